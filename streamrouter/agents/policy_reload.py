"""A running worker takes up a new version of its policy file: checked on a timer and at
once on SIGHUP. A version it cannot take up is logged once, and the running one stays."""

from __future__ import annotations

import asyncio
import signal

import faust

from streamrouter.agents.base import AgentGroup, log
from streamrouter.errors import ConfigError
from streamrouter.policy_file import PolicyFile, PolicyVersion, reload_refusal

__all__ = ["PolicyReload"]


class PolicyReload(AgentGroup):
    def register(self, app: faust.App) -> None:
        path = self.rt.settings.policy_file
        if path is None:
            return  # the built-in policy: nothing to follow
        self.file = PolicyFile(path, seen=self.rt.policy_version)
        app.timer(self.rt.settings.policy_check_s)(self.check_on_timer)
        app.task(self.check_on_sighup)

    async def check_on_timer(self) -> None:
        self.check()

    async def check_on_sighup(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.check)

    def check(self) -> None:
        """Take up the file's new version, if it has one the worker can run (no I/O but
        the file's read: run in the loop, from the timer or the signal handler)."""
        try:
            found = self.file.new_version()
        except ConfigError as exc:
            log.error("%s; still routing by policy version %s", exc, self.rt.policy_version)
            return
        if found is not None:
            self.take_up(found)

    def take_up(self, found: PolicyVersion) -> None:
        reason = reload_refusal(self.rt.policy, found.policy, self.rt.prices)
        if reason is None:
            try:
                self.rt.use_policy(found.policy, found.version)
            except ConfigError as exc:
                reason = str(exc)
        if reason is not None:
            log.error(
                "policy file %s version %s not taken up (restart the worker to use it): %s; "
                "still routing by version %s",
                self.file.path,
                found.version,
                reason,
                self.rt.policy_version,
            )
            return
        log.warning("policy file %s: now routing by version %s", self.file.path, found.version)
