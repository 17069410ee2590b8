"""Escalation cascade: below its tier's threshold, a request moves up to the next tier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

__all__ = ["DEFAULT_THRESHOLDS", "escalate_if_unsure", "next_tier"]

DEFAULT_THRESHOLDS: Final[Mapping[str, float]] = MappingProxyType({"haiku": 0.85, "sonnet": 0.80})


def next_tier(tier: str, tiers: Sequence[str]) -> str | None:
    """The tier after ``tier`` in the ordered ``tiers`` (cheapest first); ``None`` at the top.

    Raises ``ValueError`` for a tier that is not in ``tiers``.
    """
    try:
        index = list(tiers).index(tier)
    except ValueError:
        raise ValueError(f"unknown tier {tier!r}; tiers are {list(tiers)}") from None
    return tiers[index + 1] if index + 1 < len(tiers) else None


def escalate_if_unsure(
    tier: str,
    confidence: float,
    thresholds: Mapping[str, float],
    tiers: Sequence[str],
) -> str | None:
    """The tier to escalate to, or ``None`` to answer now.

    Escalates only when ``confidence`` is strictly below the tier's threshold (a confidence
    equal to the threshold answers; a NaN confidence counts as unsure) and a next tier
    exists. The top tier always answers, and so does a tier without a threshold. Raises
    ``ValueError`` for a tier that is not in ``tiers``.
    """
    upper = next_tier(tier, tiers)
    threshold = thresholds.get(tier)
    if upper is None or threshold is None:
        return None
    return upper if not confidence >= threshold else None
