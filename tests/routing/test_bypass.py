from __future__ import annotations

import pytest

from streamrouter.routing.bypass import BypassPolicy, BypassWindow

POLICY = BypassPolicy(threshold=0.8, window=10, min_window=5, sample_rate=0.25)


def window_with(tiers: list[str], policy: BypassPolicy = POLICY) -> BypassWindow:
    window = BypassWindow(policy)
    for tier in tiers:
        window.record(tier)
    return window


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ([], None),
        (["haiku"] * 4, None),  # below min_window
        (["haiku"] * 5, "haiku"),
        (["haiku"] * 8 + ["opus"] * 2, None),  # exactly 0.8 is not above the threshold
        (["haiku"] * 9 + ["opus"], "haiku"),
        (["opus"] * 10 + ["haiku"] * 8, None),  # the window slides: 8 haiku of the last 10
        (["opus"] * 10 + ["haiku"] * 10, "haiku"),
    ],
)
def test_bypass_turns_on_above_the_threshold(tiers: list[str], expected: str | None) -> None:
    assert window_with(tiers).state().tier == expected


def test_state_reports_share_and_window_size() -> None:
    state = window_with(["haiku"] * 3 + ["sonnet"]).state()
    assert (state.dominant_tier, state.share, state.decisions, state.tier) == (
        "haiku",
        0.75,
        4,
        None,
    )


def test_every_nth_request_is_still_classified() -> None:
    window = window_with(["haiku"] * 10)
    decisions = [window.bypass_tier() for _ in range(8)]
    assert decisions == ["haiku", "haiku", "haiku", None, "haiku", "haiku", "haiku", None]


def test_a_shift_in_sampled_traffic_turns_it_off() -> None:
    window = window_with(["haiku"] * 10)
    for _ in range(3):
        window.record("opus")
    assert window.state().tier is None
    assert window.bypass_tier() is None


def test_disabled_never_bypasses() -> None:
    assert window_with(["haiku"] * 10, BypassPolicy(enabled=False)).bypass_tier() is None


def test_a_minimum_window_larger_than_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="min_window"):
        BypassPolicy(window=10, min_window=20)


@pytest.mark.parametrize(
    ("decisions", "classifying", "filling"),
    [
        (0, 4, False),  # these calls will not fill the window: classify more
        (0, 5, True),  # they will: wait for their verdicts
        (3, 2, True),
        (5, 9, False),  # full enough to decide: never wait
        (4, 0, False),
    ],
)
def test_requests_wait_for_the_verdicts_that_will_fill_the_window(
    decisions: int, classifying: int, filling: bool
) -> None:
    assert window_with(["haiku"] * decisions).filling(classifying) is filling
    disabled = BypassPolicy(enabled=False, window=10, min_window=5)
    assert not window_with(["haiku"] * decisions, disabled).filling(classifying)
