"""One embedded stack (tansu broker, simulator, worker processes) for the e2e tests.

Started once per session: a worker's consumer-group join is the slow part, so the
tests share it and keep rebalances few. Each test uses its own request ids and prompt
markers, so tests do not see each other's events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamrouter.client import StreamClient
from streamrouter.config import Topics
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import LLMRequest, Message
from tests.support.otlp import OtlpReceiver

SCENARIO = Path(__file__).with_name("scenario.yaml")
PARTITIONS = 2
MAX_PROMPT_CHARS = 5000
RESULT_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[EmbeddedStack]:
    env = {
        "STREAMROUTER_PARTITIONS": str(PARTITIONS),
        "STREAMROUTER_MAX_PROMPT_CHARS": str(MAX_PROMPT_CHARS),
        "STREAMROUTER_MODEL_MAX_RETRIES": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    log_dir = tmp_path_factory.mktemp("stack-logs")
    with EmbeddedStack(scenario=SCENARIO, worker_env=env, log_dir=log_dir) as running:
        yield running


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[StreamClient]:
    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as running:
        yield running


def new_request(marker: str, **fields: object) -> LLMRequest:
    """A request whose prompt carries ``marker`` and its own id (to find its model calls)."""
    request_id = f"{marker.lower()}-{uuid.uuid4().hex[:8]}"
    text = str(fields.pop("text", "please help"))
    return LLMRequest(
        request_id=request_id,
        messages=[Message(role="user", content=f"{marker} [{request_id}] {text}")],
        **fields,  # type: ignore[arg-type]
    )


def model_calls(stack: EmbeddedStack, request_id: str) -> list[dict[str, object]]:
    """The simulator's log of the model calls made for one request."""
    with urllib.request.urlopen(f"{stack.sim_url}/_sim/calls", timeout=10) as response:
        calls = json.load(response)
    return [c for c in calls if f"[{request_id}]" in str(c["last_user"])]


def streamrouter(*args: str) -> list[str]:
    """The ``streamrouter`` command line, run with this interpreter."""
    return [sys.executable, "-m", "streamrouter", *args]


def against(stack: EmbeddedStack) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a ``streamrouter`` command against ``stack``'s broker."""
    env = {**os.environ, "STREAMROUTER_BROKER": stack.broker_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            streamrouter(*args), capture_output=True, text=True, timeout=120, env=env, check=False
        )

    return cli


def hang_up_and_wait_for(stack: EmbeddedStack, line: str, timeout_s: float = 30.0) -> None:
    """SIGHUP the worker, then wait until its log holds ``line`` once more than before."""
    log = stack.log_dir / "worker-0.log"
    before = log.read_text().count(line)
    pid = stack.workers[0].pid
    assert pid is not None
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout_s
    while log.read_text().count(line) == before:
        assert time.monotonic() < deadline, f"no {line!r} in the worker's log"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Where a module's stack keeps the policy file it follows (``following_a_policy_file``)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return tmp_path_factory.mktemp(module) / "policy.yaml"


@contextmanager
def following_a_policy_file(
    policy_file: Path, scenario: str, policy: str
) -> Iterator[EmbeddedStack]:
    """A stack whose worker follows ``policy_file`` (holding ``policy`` to start with),
    checked once a minute: within a test, what changes is SIGHUP's doing."""
    directory = policy_file.parent
    scenario_file = directory / "scenario.yaml"
    scenario_file.write_text(scenario)
    policy_file.write_text(policy)
    env = {"STREAMROUTER_POLICY_FILE": str(policy_file), "STREAMROUTER_POLICY_CHECK_S": "60"}
    with EmbeddedStack(scenario=scenario_file, worker_env=env, log_dir=directory) as running:
        yield running
