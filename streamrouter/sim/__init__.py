"""The simulated Anthropic Messages API: scenario rules, deterministic behaviour, HTTP server."""

from __future__ import annotations

from streamrouter.sim.scenario import Rule, RuleCounters, Scenario, select_rule
from streamrouter.sim.server import SimServer, create_app, run_sim, serve

__all__ = [
    "Rule",
    "RuleCounters",
    "Scenario",
    "SimServer",
    "create_app",
    "run_sim",
    "select_rule",
    "serve",
]
