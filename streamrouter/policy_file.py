"""The policy file a running worker follows: a new version is taken up without a restart
when it keeps what the worker built at its start (one topic per tier, the model client's
prompt caching) and prices every model it may call. Otherwise it is refused, and the
worker keeps routing by the version it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamrouter.config import Policy, parse_policy, policy_version
from streamrouter.errors import ConfigError
from streamrouter.llm.pricing import PriceTable

__all__ = ["PolicyFile", "PolicyVersion", "reload_refusal"]

UNREADABLE = "unreadable"


def reload_refusal(running: Policy, new: Policy, prices: PriceTable) -> str | None:
    """Why a running worker cannot switch from ``running`` to ``new``; None if it can."""
    if new.tier_names != running.tier_names:
        return (
            f"its tiers ({', '.join(new.tier_names)}) are not the running ones "
            f"({', '.join(running.tier_names)}): each tier's topic is declared at start"
        )
    if new.cache != running.cache:
        return "its cache settings differ: the model client is built with them at start"
    for model in new.models:
        try:
            prices.price_for(model)
        except ConfigError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class PolicyVersion:
    policy: Policy
    version: str


@dataclass
class PolicyFile:
    """The file at ``path``, and the version of it last looked at (taken up or refused)."""

    path: Path
    seen: str

    def new_version(self) -> PolicyVersion | None:
        """The file's policy if its content changed since last looked at, else None.
        Raises ``ConfigError`` for a file that cannot be read or is not a valid policy
        (it counts as looked at: the error is reported once per version)."""
        try:
            content = self.path.read_bytes()
        except OSError as exc:
            if self.seen == UNREADABLE:
                return None
            self.seen = UNREADABLE
            raise ConfigError(f"cannot read policy file {self.path}: {exc}") from exc
        version = policy_version(content)
        if version == self.seen:
            return None
        self.seen = version
        return PolicyVersion(parse_policy(content, self.path), version)
