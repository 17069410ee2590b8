from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamrouter.commands.client import parse_since
from streamrouter.events import Attempt, Feedback, LLMResult, Route
from streamrouter.llm.pricing import PriceTable
from streamrouter.report import format_report, percentile, summarize

PRICES = PriceTable.default()
TOP = "claude-opus-4-7"  # $5 / $25 per million
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def result(
    rid: str,
    strategy: str,
    tier: str,
    attempts: list[tuple[str, str, int, int, float]],
    *,
    latency_ms: float = 100.0,
    status: str = "ok",
    fallback: bool = False,
    completed_at: datetime = NOW,
) -> LLMResult:
    return LLMResult(
        request_id=rid,
        tenant="t",
        status=status,  # type: ignore[arg-type]
        tier=tier,
        route=Route(strategy=strategy),  # type: ignore[arg-type]
        escalated=any(outcome == "escalated" for _, outcome, *_ in attempts),
        fallback_used=fallback,
        attempts=[
            Attempt(
                tier=t,
                model=f"model-{t}",
                outcome=outcome,  # type: ignore[arg-type]
                input_tokens=i,
                output_tokens=o,
                cost_usd=c,
            )
            for t, outcome, i, o, c in attempts
        ],
        total_cost_usd=sum(c for *_, c in attempts),
        total_latency_ms=latency_ms,
        completed_at=completed_at,
    )


RESULTS = [
    result("a", "task_map", "haiku", [("haiku", "answered", 1000, 100, 0.0015)], latency_ms=50),
    result(
        "b",
        "task_map",
        "sonnet",
        [("haiku", "escalated", 1000, 100, 0.0015), ("sonnet", "answered", 2000, 200, 0.009)],
        latency_ms=300,
    ),
    result(
        "c",
        "classifier",
        "opus",
        [("haiku", "classified", 500, 20, 0.0006), ("opus", "answered", 1000, 1000, 0.03)],
        latency_ms=900,
        fallback=True,
    ),
    result("d", "pinned", "haiku", [("haiku", "failed", 0, 0, 0.0)], status="error"),
]


def test_totals_and_saving_against_the_top_tier() -> None:
    report = summarize(RESULTS, PRICES, TOP)

    on_opus = (1000 * 5 + 100 * 25 + 2000 * 5 + 200 * 25 + 1000 * 5 + 1000 * 25) / 1e6
    assert report.requests == 4
    assert report.total_cost_usd == pytest.approx(0.0426)
    assert report.top_tier_cost_usd == pytest.approx(on_opus)
    assert report.saving_usd == pytest.approx(on_opus - 0.0426)
    assert report.saving_share == pytest.approx((on_opus - 0.0426) / on_opus)


def test_figures_by_route_and_by_tier() -> None:
    report = summarize(RESULTS, PRICES, TOP)
    routes = {g.name: g for g in report.by_route}
    tiers = {g.name: g for g in report.by_tier}

    assert sorted(routes) == ["classifier", "pinned", "task_map"]
    task_map = routes["task_map"]
    assert (task_map.requests, task_map.share) == (2, 0.5)
    assert task_map.total_cost_usd == pytest.approx(0.012)
    assert task_map.mean_cost_usd == pytest.approx(0.006)
    assert (task_map.p50_latency_ms, task_map.p95_latency_ms) == (50, 300)
    assert task_map.escalation_rate == 0.5
    assert routes["classifier"].fallback_rate == 1.0
    assert routes["pinned"].error_rate == 1.0
    assert {name: g.requests for name, g in tiers.items()} == {"haiku": 2, "opus": 1, "sonnet": 1}


def verdict(rid: str, minutes: int, **fields: object) -> Feedback:
    return Feedback(request_id=rid, at=NOW + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


def test_rated_answers_per_route_and_tier_by_their_latest_verdict() -> None:
    feedback = [
        verdict("b", 2, label="bad"),
        verdict("a", 1, label="good"),
        verdict("b", 1, label="good"),  # older than the bad one
        verdict("c", 1, score=0.6, source="judge"),  # a score of a half or more is good
        verdict("unknown", 1, label="bad"),  # no result of it in the report
    ]
    report = summarize(RESULTS, PRICES, TOP, feedback=feedback)
    routes = {g.name: (g.rated, g.good_share) for g in report.by_route}
    tiers = {g.name: (g.rated, g.good_share) for g in report.by_tier}

    assert routes == {"task_map": (2, 0.5), "classifier": (1, 1.0), "pinned": (0, None)}
    assert tiers == {"haiku": (1, 1.0), "sonnet": (1, 0.0), "opus": (1, 1.0)}
    assert "rated  good" in format_report(report)


def test_since_filters_by_completion_time() -> None:
    old = result("old", "pinned", "haiku", [], completed_at=NOW - timedelta(hours=3))
    report = summarize([*RESULTS, old], PRICES, TOP, since=NOW - timedelta(hours=1))
    assert report.requests == 4


def test_empty_report_and_text_format() -> None:
    empty = summarize([], PRICES, TOP)
    assert (empty.requests, empty.saving_share, empty.by_route) == (0, 0.0, [])
    text = format_report(summarize(RESULTS, PRICES, TOP))
    assert "saving" in text and "task_map" in text and "final tier" in text


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, 0.0), ([7], 95, 7), ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 95, 4), ([3, 1, 2], 50, 2)],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("2026-11-25T10:00:00", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00+01:00", datetime(2026, 11, 25, 9, tzinfo=UTC)),
    ],
)
def test_parse_since(value: str | None, expected: datetime | None) -> None:
    assert parse_since(value, now=NOW) == expected


def test_parse_since_rejects_nonsense() -> None:
    import click

    with pytest.raises(click.BadParameter):
        parse_since("yesterday", now=NOW)


def test_cache_savings() -> None:
    cached = LLMResult(
        request_id="c",
        tenant="t",
        status="ok",
        attempts=[
            Attempt(
                tier="haiku",
                model="claude-haiku-4-5",  # $1 input, $1.25 write, $0.10 read per million
                outcome="answered",
                cache_creation_input_tokens=1_000_000,
            ),
            Attempt(
                tier="haiku",
                model="claude-haiku-4-5",
                outcome="answered",
                cache_read_input_tokens=2_000_000,
            ),
        ],
        completed_at=NOW,
    )
    report = summarize([cached], PRICES, TOP)
    assert (report.cache_read_tokens, report.cache_write_tokens) == (2_000_000, 1_000_000)
    assert report.cache_saving_usd == pytest.approx(2 * 0.9 - 0.25)
    assert "prompt cache" in format_report(report)
