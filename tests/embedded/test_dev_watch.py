"""`streamrouter dev` watches its stack: a process that dies ends the command, loudly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from streamrouter.embedded.demo import run_watched
from streamrouter.embedded.process import ManagedProcess, ProcessDiedError
from streamrouter.embedded.stack import EmbeddedStack

SERVING_TIMEOUT_S = 240.0
EXIT_TIMEOUT_S = 30.0
CRASH_AFTER_READY = "print('ready', flush=True); print('boom: bad partitions', flush=True); exit(3)"


def streamrouter(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamrouter", *args]


def child_pids(parent: int) -> dict[str, int]:
    """``parent``'s children by command line (Linux /proc)."""
    children = {}
    for task in Path(f"/proc/{parent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            children[cmdline.decode().strip()] = int(pid)
    return children


def pid_of(children: dict[str, int], marker: str) -> int:
    return next(pid for cmdline, pid in children.items() if marker in cmdline)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def stack_of(tmp_path: Path, *processes: ManagedProcess) -> EmbeddedStack:
    """A stack that did not start its own processes: ``processes``, started, as workers."""
    stack = EmbeddedStack(log_dir=tmp_path)
    for process in processes:
        process.start(timeout=30)
        stack.workers.append(process)
    return stack


async def test_run_watched_cancels_the_work_and_names_the_process_that_died(
    tmp_path: Path,
) -> None:
    crashing = ManagedProcess(
        "worker-0",
        [sys.executable, "-c", CRASH_AFTER_READY],
        ready="ready",
        log_path=tmp_path / "worker-0.log",
    )
    stack = stack_of(tmp_path, crashing)
    cancelled = asyncio.Event()

    async def serve_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    try:
        with pytest.raises(ProcessDiedError) as died:
            await asyncio.wait_for(run_watched(stack, serve_forever()), EXIT_TIMEOUT_S)
    finally:
        stack.stop()

    assert cancelled.is_set()
    assert (died.value.process, died.value.code) == (crashing, 3)
    message = str(died.value)
    assert message.startswith("worker-0 exited with code 3; last lines of its log")
    assert str(tmp_path / "worker-0.log") in message
    assert message.endswith("ready\nboom: bad partitions")


async def test_run_watched_returns_or_raises_what_the_work_does(tmp_path: Path) -> None:
    running = ManagedProcess(
        "sim",
        [sys.executable, "-c", "print('ready', flush=True); import time; time.sleep(60)"],
        ready="ready",
    )
    stack = stack_of(tmp_path, running)

    async def fail() -> None:
        raise ValueError("work failed")

    async def succeed() -> None:
        await asyncio.sleep(0)

    try:
        await run_watched(stack, succeed())
        with pytest.raises(ValueError, match="work failed"):
            await run_watched(stack, fail())
        assert stack.dead() is None
    finally:
        running.stop()
        stack.stop()


async def test_work_that_fails_because_a_process_died_names_the_process(
    tmp_path: Path,
) -> None:
    # The broker dies and the client fails at once, before the watch has polled.
    crashing = ManagedProcess("broker", [sys.executable, "-c", CRASH_AFTER_READY], ready="ready")
    stack = stack_of(tmp_path, crashing)

    async def client_fails() -> None:
        await asyncio.to_thread(crashing.wait, 30)
        raise ConnectionError("broker gone")

    try:
        with pytest.raises(ProcessDiedError, match="broker exited with code 3") as raised:
            await run_watched(stack, client_fails())
        assert isinstance(raised.value.__cause__, ConnectionError)
    finally:
        stack.stop()


@pytest.mark.e2e
def test_dev_serve_exits_when_its_worker_dies(tmp_path: Path) -> None:
    dev = ManagedProcess(
        "dev",
        streamrouter("dev", "--serve"),
        ready=r"serving until Ctrl-C",
        log_path=tmp_path / "dev.log",
    )
    try:
        dev.start(timeout=SERVING_TIMEOUT_S)
        assert dev.pid is not None
        children = child_pids(dev.pid)
        worker = pid_of(children, "streamrouter worker")
        os.kill(worker, signal.SIGKILL)

        code = dev.wait(timeout=EXIT_TIMEOUT_S)
        dev.poll()  # the output read to the end
    finally:
        dev.stop()

    output = (tmp_path / "dev.log").read_text()
    assert code == 1, output
    assert "worker-0 exited with code -9 (SIGKILL)" in output
    match = re.search(r"logs in (\S+)", output)
    assert match is not None, output
    worker_log = Path(match.group(1), "worker-0.log").read_text().splitlines()
    assert [line for line in worker_log if line.strip()][-1] in output
    survivors = [cmdline for cmdline, pid in children.items() if alive(pid)]
    assert survivors == [], "the rest of the stack was not stopped"


@pytest.mark.e2e
def test_dev_serve_stops_its_stack_on_ctrl_c(tmp_path: Path) -> None:
    dev = ManagedProcess(
        "dev",
        streamrouter("dev", "--serve"),
        ready=r"serving until Ctrl-C",
        log_path=tmp_path / "dev.log",
    )
    try:
        dev.start(timeout=SERVING_TIMEOUT_S)
        assert dev.pid is not None
        children = child_pids(dev.pid)
        os.kill(dev.pid, signal.SIGINT)
        code = dev.wait(timeout=EXIT_TIMEOUT_S)
    finally:
        dev.stop()

    assert code == 0, (tmp_path / "dev.log").read_text()
    assert [cmdline for cmdline, pid in children.items() if alive(pid)] == []
