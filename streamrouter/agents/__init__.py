"""The Faust agents: short loops that decode, call a pipeline stage, and send the outcome.

routing.py        admit, budget, classify, answer (one per tier), finalize
orchestration.py  plan, fan-in, synthesize, and the fan-in deadline timer
spend.py          book each tenant's spend for budgets
policy_reload.py  take up a new version of the policy file (timer, SIGHUP)
base.py           what they share: the runtime, the agent loop, sending, errors
"""

from __future__ import annotations

import faust

from streamrouter.agents.base import Runtime, Tables
from streamrouter.agents.orchestration import OrchestrationAgents
from streamrouter.agents.policy_reload import PolicyReload
from streamrouter.agents.routing import RoutingAgents
from streamrouter.agents.spend import SpendAgents

__all__ = ["Runtime", "Tables", "register_agents"]


def register_agents(app: faust.App, runtime: Runtime) -> None:
    for group in (RoutingAgents, OrchestrationAgents, SpendAgents, PolicyReload):
        group(runtime).register(app)

    @app.on_partitions_assigned.connect
    async def read_handed_over_results(app: faust.App, *args: object, **kwargs: object) -> None:
        runtime.handover.on_assigned()
