"""What the stages share: the policy, the limits and the way to reach the models."""

from __future__ import annotations

from dataclasses import dataclass

from streamrouter.config import Policy
from streamrouter.llm.client import ModelGateway
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.routing.validate import RequestLimits

__all__ = ["PipelineContext"]


@dataclass(frozen=True)
class PipelineContext:
    policy: Policy
    limits: RequestLimits
    gateway: ModelGateway
    cooldowns: Cooldowns
