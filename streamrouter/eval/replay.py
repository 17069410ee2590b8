"""Replaying a labeled dataset through the real pipeline, or offline from the labels.

``replay_through_pipeline`` starts the embedded stack (tansu broker, the simulator in
replay mode serving the dataset's recorded answers, a worker), sends every prompt as a
request pinned to the weak tier, and reads the results. The evaluation policy has two
tiers, ``haiku`` played by the weak model and ``opus`` by the strong one, and the weak
tier's threshold is 1.0, so every request escalates: each result then holds the weak
call (with the combined confidence the worker computed), the strong call, and their
token counts and cost. Every cascade threshold's outcome follows from those exactly
(:mod:`streamrouter.eval.policies`). Each record is checked: the strong answer must be
the recorded one and the weak confidence must equal the one computed offline from the
recorded weak answer, or the replay fails.

``offline_records`` builds the same records without the pipeline (confidence computed
the way the pipeline does; tokens estimated from the texts), for data without response
text (e.g. MMLU: only the labels matter there) or for quick iteration.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamrouter.eval.dataset import Dataset, Example
from streamrouter.eval.policies import STRONG_TIER, WEAK_TIER, offline_confidence
from streamrouter.eval.records import CallRecord, RequestRecord, record_from_result
from streamrouter.llm.pricing import PriceTable, TokenUsage, price_usage
from streamrouter.routing.confidence import ConfidenceWeights

__all__ = [
    "STRONG_MODEL_ID",
    "WEAK_MODEL_ID",
    "ReplayError",
    "ReplaySettings",
    "evaluation_policy",
    "offline_records",
    "replay_scenario",
    "replay_through_pipeline",
]

WEAK_MODEL_ID = "claude-haiku-4-5"
STRONG_MODEL_ID = "claude-opus-4-7"
CONFIDENCE_TOLERANCE = 1e-9


class ReplayError(RuntimeError):
    """The replay did not produce what it must (a missing result, an unrecorded answer)."""


@dataclass(frozen=True)
class ReplaySettings:
    weak_column: str
    strong_column: str
    confidence: Mapping[str, float] = field(default_factory=dict)
    """Confidence weights for the worker (a policy file's ``confidence`` section)."""
    max_tokens: int = 1024
    timeout_s: float = 900.0

    @property
    def weights(self) -> ConfidenceWeights:
        return ConfidenceWeights.from_mapping(self.confidence)


def evaluation_policy(
    confidence: Mapping[str, float], weak_threshold: float | None = 1.0
) -> dict[str, Any]:
    """The routing policy of an evaluation: weak tier ``haiku``, strong tier ``opus``."""
    weak: dict[str, Any] = {"name": WEAK_TIER, "model": WEAK_MODEL_ID}
    if weak_threshold is not None:
        weak["threshold"] = weak_threshold
    return {
        "tiers": [weak, {"name": STRONG_TIER, "model": STRONG_MODEL_ID}],
        "task_map": {},
        "confidence": dict(confidence),
    }


def replay_scenario(dataset: Dataset, settings: ReplaySettings) -> dict[str, Any]:
    """The simulator scenario that serves ``dataset``'s recorded answers, with no latency."""
    return {
        "latency_ms": 0,
        "replay": {
            "path": str(dataset.path.resolve()),
            "format": "jsonl" if dataset.path.suffix in (".jsonl", ".ndjson") else "routellm",
            "models": {
                f"{WEAK_MODEL_ID}*": settings.weak_column,
                f"{STRONG_MODEL_ID}*": settings.strong_column,
            },
        },
    }


async def replay_through_pipeline(
    dataset: Dataset,
    examples: Sequence[tuple[Example, str]],
    settings: ReplaySettings,
    work_dir: Path,
    *,
    progress: bool = True,
) -> list[RequestRecord]:
    """Records of ``examples`` (each with its split name) replayed through the pipeline."""
    from streamrouter.client import StreamClient
    from streamrouter.config import Topics
    from streamrouter.embedded.stack import EmbeddedStack
    from streamrouter.events import LLMRequest, Message

    dataset.require_models(settings.weak_column, settings.strong_column)
    work_dir.mkdir(parents=True, exist_ok=True)
    scenario_path = work_dir / "replay-scenario.yaml"
    policy_path = work_dir / "replay-policy.yaml"
    scenario_path.write_text(yaml.safe_dump(replay_scenario(dataset, settings)))
    policy_path.write_text(yaml.safe_dump(evaluation_policy(settings.confidence)))
    run = uuid.uuid4().hex[:8]
    requests = {
        f"eval-{run}-{index}": LLMRequest(
            request_id=f"eval-{run}-{index}",
            tier=WEAK_TIER,
            messages=[Message(role="user", content=example.prompt)],
            max_tokens=settings.max_tokens,
        )
        for index, (example, _) in enumerate(examples)
    }
    longest = max(len(example.prompt) for example, _ in examples)
    env = {
        "STREAMROUTER_POLICY_FILE": str(policy_path),
        "STREAMROUTER_MAX_PROMPT_CHARS": str(max(200_000, longest + 1)),
        "STREAMROUTER_MAX_IN_FLIGHT": "64",
    }
    log_dir = work_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    stack = EmbeddedStack(scenario=scenario_path, worker_env=env, log_dir=log_dir)
    try:
        await asyncio.to_thread(stack.start)
        async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as client:
            for request in requests.values():
                await client.send(request)
            results = await _collect(client, set(requests), settings.timeout_s, progress)
    finally:
        stack.stop()
    prices = PriceTable.default()
    weights = settings.weights
    records = []
    for request_id, (example, split) in zip(requests, examples, strict=True):
        weak_text = example.responses.get(settings.weak_column, "")
        expected = offline_confidence(weak_text, max_tokens=settings.max_tokens, weights=weights)
        result = results[request_id]
        weak_conf = next(
            (
                a.confidence
                for a in result.attempts
                if a.tier == WEAK_TIER and a.confidence is not None
            ),
            None,
        )
        record = record_from_result(
            result,
            prompt=example.prompt,
            split=split,
            weak_correct=example.correct[settings.weak_column],
            strong_correct=example.correct[settings.strong_column],
            weak_tier=WEAK_TIER,
            strong_tier=STRONG_TIER,
            strong_model=STRONG_MODEL_ID,
            prices=prices,
            strong_answer=example.responses.get(settings.strong_column, ""),
            weak_recorded=weak_conf is not None
            and math.isclose(weak_conf, expected, abs_tol=CONFIDENCE_TOLERANCE),
        )
        records.append(record)
    _check_recorded(records)
    return records


async def _collect(client: Any, wanted: set[str], timeout_s: float, progress: bool) -> dict:
    found: dict[str, Any] = {}
    bar = _progress_bar(len(wanted), progress)

    async def read() -> None:
        async for result in client.results():
            if result.request_id in wanted and result.request_id not in found:
                found[result.request_id] = result
                bar.update(1)
                if len(found) == len(wanted):
                    return

    try:
        await asyncio.wait_for(read(), timeout_s)
    except TimeoutError as exc:
        raise ReplayError(
            f"only {len(found)} of {len(wanted)} results within {timeout_s:.0f} s"
        ) from exc
    finally:
        bar.close()
    return found


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="replaying", unit="req", disable=not enabled)


def _check_recorded(records: Sequence[RequestRecord]) -> None:
    bad = [r.request_id for r in records if not (r.weak.recorded and r.strong.recorded)]
    if bad:
        raise ReplayError(
            f"{len(bad)} of {len(records)} requests were not answered from the recording "
            f"(or the worker's confidence differs from the offline one), e.g. {bad[:3]}"
        )


def _estimated_call(
    model: str, prompt: str, answer: str, confidence: float | None, prices: PriceTable
) -> CallRecord:
    from streamrouter.sim.behaviour import estimate_tokens

    usage = TokenUsage(
        input_tokens=estimate_tokens(prompt),
        output_tokens=estimate_tokens(answer) if answer else 1,
    )
    return CallRecord(
        model=model,
        confidence=confidence,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=price_usage(prices.price_for(model), usage),
        latency_ms=0.0,
        recorded=bool(answer),
    )


def offline_records(
    examples: Sequence[tuple[Example, str]], settings: ReplaySettings
) -> list[RequestRecord]:
    """Records without the pipeline: confidence from the recorded weak answer (None when
    there is none), tokens estimated from the texts (the prompt alone when no answer)."""
    prices = PriceTable.default()
    weights = settings.weights
    records = []
    for index, (example, split) in enumerate(examples):
        weak_text = example.responses.get(settings.weak_column, "")
        strong_text = example.responses.get(settings.strong_column, "")
        confidence = (
            offline_confidence(weak_text, max_tokens=settings.max_tokens, weights=weights)
            if weak_text
            else None
        )
        weak = _estimated_call(WEAK_MODEL_ID, example.prompt, weak_text, confidence, prices)
        strong = _estimated_call(STRONG_MODEL_ID, example.prompt, strong_text, None, prices)
        records.append(
            RequestRecord(
                request_id=f"offline-{index}",
                prompt=example.prompt,
                split=split,
                weak_correct=example.correct[settings.weak_column],
                strong_correct=example.correct[settings.strong_column],
                weak=weak,
                strong=strong,
                direct_strong_cost_usd=strong.cost_usd,
            )
        )
    return records
