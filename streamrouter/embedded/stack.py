"""The whole embedded stack: broker, simulated API and workers, owned by one object.

Used by ``streamrouter dev`` and by the end-to-end tests. Each part is a separate
process, as in production: the worker talks to the broker over the Kafka protocol and
to the simulator over HTTP through the real ``anthropic`` SDK.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from streamrouter.config import Settings
from streamrouter.embedded.broker import embedded_broker
from streamrouter.embedded.process import ManagedProcess, free_port

__all__ = ["DEV_WORKER_ENV", "EmbeddedStack", "default_env"]

# Short consumer-group timings: a worker on tansu is ready in seconds, not half a minute.
DEV_WORKER_ENV = {
    "STREAMROUTER_KAFKA_SESSION_TIMEOUT_S": "6",
    "STREAMROUTER_KAFKA_REBALANCE_TIMEOUT_S": "6",
    "STREAMROUTER_KAFKA_HEARTBEAT_S": "1",
    "STREAMROUTER_PARTITIONS": "2",
    "STREAMROUTER_TOPIC_CHECK_S": "3",
    "STREAMROUTER_MODEL_TIMEOUT_S": "10",
}

SIM_API_KEY = "sk-sim-not-a-secret"
SETTINGS_ENV_PREFIX = "STREAMROUTER_"


def default_env(*names: str) -> dict[str, str]:
    """These ``STREAMROUTER_*`` variables at the values a worker given no settings has:
    a stack's worker runs with production timings, not the dev ones above."""
    defaults = Settings()
    return {
        name: str(getattr(defaults, name.removeprefix(SETTINGS_ENV_PREFIX).lower()))
        for name in names
    }


class EmbeddedStack:
    def __init__(
        self,
        *,
        scenario: Path | None = None,
        kafka_port: int = 0,
        worker_env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self._scenario = scenario
        self._kafka_port = kafka_port
        self._worker_env = dict(worker_env or {})
        self._exit = ExitStack()
        # Worker state (table stores) is scratch; logs outlive the stack, for a look after.
        self._data_dir = Path(tempfile.mkdtemp(prefix="streamrouter-data-"))
        self._exit.callback(shutil.rmtree, self._data_dir, ignore_errors=True)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="streamrouter-logs-"))
        self.broker_url = ""
        self.broker: ManagedProcess | None = None
        self.sim: ManagedProcess | None = None
        self.sim_url = ""
        self.workers: list[ManagedProcess] = []
        self.web_ports: list[int] = []  # each worker's web port (/metrics, /healthz)

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, progress: Callable[[str], None] = lambda _msg: None) -> None:
        try:
            progress(f"starting the embedded broker (tansu); logs in {self.log_dir}")
            self.broker, self.broker_url = embedded_broker(self._kafka_port, self._log("broker"))
            self._exit.callback(self._stop_broker)
            self.broker.start(timeout=30)
            progress(f"broker ready at {self.broker_url}")
            self.sim = ManagedProcess(
                "sim",
                self._streamrouter("sim", "--port", "0", *self._scenario_args()),
                ready=r"listening on (http://\S+)",
                log_path=self._log("sim"),
            )
            self._exit.callback(self.sim.stop)
            self.sim_url = self.sim.start(timeout=60).group(1)
            progress(f"simulated Anthropic API ready at {self.sim_url}")
            progress("starting a worker (first consumer-group join takes a few seconds)")
            self.start_worker()
            progress("worker ready")
        except BaseException:
            self.stop()
            raise

    def start_worker(self, timeout: float = 120.0) -> ManagedProcess:
        index = len(self.workers)
        web_port = free_port()
        worker = ManagedProcess(
            f"worker-{index}",
            self._streamrouter("worker", "--loglevel", "info", "--web-port", str(web_port)),
            ready=r"\[\^Worker\]: Ready",
            env=self.worker_env(index),
            log_path=self._log(f"worker-{index}"),
        )
        self._exit.callback(worker.stop)
        self.workers.append(worker)
        self.web_ports.append(web_port)
        worker.start(timeout=timeout)
        return worker

    def restart_broker(self, *, kill: bool = True, timeout: float = 30.0) -> None:
        """Stop the broker (SIGKILL unless ``kill=False``) and start a new one on its port.

        The broker keeps its data in memory: every topic, offset and group is gone after.
        """
        assert self.broker is not None, "start() the stack first"
        if kill:
            self.broker.kill()
        else:
            self.broker.stop()
        port = int(self.broker_url.rsplit(":", 1)[1])
        self.broker, _ = embedded_broker(port, self._log("broker"))
        self.broker.start(timeout=timeout)

    def _stop_broker(self) -> None:
        if self.broker is not None:
            self.broker.stop()

    def worker_env(self, index: int = 0) -> dict[str, str]:
        return {
            **DEV_WORKER_ENV,
            "STREAMROUTER_BROKER": self.broker_url,
            "STREAMROUTER_DATA_DIR": str(self._data_dir / f"worker-{index}"),
            "ANTHROPIC_BASE_URL": self.sim_url,
            "ANTHROPIC_API_KEY": SIM_API_KEY,
            **self._worker_env,
        }

    def worker_settings(self, index: int = 0) -> Settings:
        """The settings worker ``index`` runs with: its environment's ``STREAMROUTER_*``
        (this process's, with the stack's own on top)."""
        overrides = {
            name.removeprefix(SETTINGS_ENV_PREFIX).lower(): value
            for name, value in self.worker_env(index).items()
            if name.startswith(SETTINGS_ENV_PREFIX)
        }
        return Settings(**overrides)

    def dead(self) -> tuple[ManagedProcess, int] | None:
        """The first process of the stack that has exited, with its exit code; None while
        they all run."""
        for process in (self.broker, self.sim, *self.workers):
            if process is not None and (code := process.poll()) is not None:
                return process, code
        return None

    def stop(self) -> None:
        """Stop workers first, then the simulator, then the broker. Safe to call twice."""
        self._exit.close()

    def _scenario_args(self) -> list[str]:
        return ["--scenario", str(self._scenario)] if self._scenario else []

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    @staticmethod
    def _streamrouter(*args: str) -> list[str]:
        return [sys.executable, "-m", "streamrouter", *args]
