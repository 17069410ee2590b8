"""Prometheus metrics of one worker, served at ``/metrics`` on its web port.

Most figures are read off each final result, once, in the finalize agent (so a
duplicate is never counted): requests, model calls, tokens, cost, latencies,
escalations and fallbacks all come from the result's attempts. Dead letters and work
in flight are counted where they happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streamrouter.events import FAILED_OUTCOMES, LLMResult
from streamrouter.routing.bypass import BypassState

__all__ = ["CONTENT_TYPE", "Metrics"]

MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
REQUEST_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "streamrouter_requests",
            "Requests finished, by route strategy, final tier and status.",
            ["strategy", "tier", "status"],
            registry=r,
        )
        self.model_calls = Counter(
            "streamrouter_model_calls",
            "Model calls, by model and outcome.",
            ["model", "outcome"],
            registry=r,
        )
        self.tokens = Counter(
            "streamrouter_tokens",
            "Tokens, by model and kind (input, output, cache_read, cache_creation).",
            ["model", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "streamrouter_cost_usd",
            "Cost in USD, by model and tenant.",
            ["model", "tenant"],
            registry=r,
        )
        self.model_latency = Histogram(
            "streamrouter_model_call_seconds",
            "Latency of model calls.",
            ["model"],
            buckets=MODEL_BUCKETS,
            registry=r,
        )
        self.request_latency = Histogram(
            "streamrouter_request_seconds",
            "End-to-end latency, from admission to result, by route strategy.",
            ["strategy"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.escalations = Counter(
            "streamrouter_escalations",
            "Escalations, by from and to tier.",
            ["from_tier", "to_tier"],
            registry=r,
        )
        self.fallbacks = Counter(
            "streamrouter_fallbacks",
            "Failed calls the fallback chain moved past, by tier, model and reason.",
            ["tier", "model", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "streamrouter_dead_letters", "Dead letters, by reason.", ["reason"], registry=r
        )
        self.bypass_share = Gauge(
            "streamrouter_bypass_share",
            "Share of recent classifier decisions that went to the most frequent tier.",
            registry=r,
        )
        self.bypass_active = Gauge(
            "streamrouter_bypass_active",
            "1 while the classifier is bypassed for this tier.",
            ["tier"],
            registry=r,
        )
        self.tenant_spend = Gauge(
            "streamrouter_tenant_spend_usd",
            "A budgeted tenant's spend in its current period.",
            ["tenant"],
            registry=r,
        )
        self.skipped = Counter(
            "streamrouter_records_skipped",
            "Records delivered again and not processed, by stage and reason: forwarded "
            "(their output was already out) or taken (a second copy of one taken lately).",
            ["stage", "reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "streamrouter_in_flight", "Events being processed, by stage.", ["stage"], registry=r
        )

    def observe_result(self, result: LLMResult) -> None:
        strategy = result.route.strategy if result.route else "none"
        self.requests.labels(strategy, result.tier or "none", result.status).inc()
        self.request_latency.labels(strategy).observe(result.total_latency_ms / 1000)
        attempts = result.attempts
        for index, attempt in enumerate(attempts):
            model = attempt.model
            self.model_calls.labels(model, attempt.outcome).inc()
            for kind, count in (
                ("input", attempt.input_tokens),
                ("output", attempt.output_tokens),
                ("cache_read", attempt.cache_read_input_tokens),
                ("cache_creation", attempt.cache_creation_input_tokens),
            ):
                if count:
                    self.tokens.labels(model, kind).inc(count)
            if attempt.cost_usd:
                self.cost.labels(model, result.tenant).inc(attempt.cost_usd)
            if attempt.outcome not in FAILED_OUTCOMES:
                self.model_latency.labels(model).observe(attempt.latency_ms / 1000)
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            if attempt.outcome == "escalated" and following is not None:
                self.escalations.labels(attempt.tier, following.tier).inc()
            if (
                attempt.outcome in FAILED_OUTCOMES
                and following is not None
                and following.tier == attempt.tier
            ):
                self.fallbacks.labels(attempt.tier, model, attempt.outcome).inc()

    def observe_bypass(self, state: BypassState) -> None:
        self.bypass_share.set(state.share)
        self.bypass_active.clear()  # the dominant tier may have changed
        if state.dominant_tier is not None:
            self.bypass_active.labels(state.dominant_tier).set(1 if state.tier else 0)

    def observe_spend(self, tenant: str, spent: float) -> None:
        self.tenant_spend.labels(tenant).set(spent)

    def observe_dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(reason).inc()

    def observe_skipped(self, stage: str, reason: str) -> None:
        self.skipped.labels(stage, reason).inc()

    @contextmanager
    def processing(self, stage: str) -> Iterator[None]:
        gauge = self.in_flight.labels(stage)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
