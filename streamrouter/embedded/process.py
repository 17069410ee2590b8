"""A child process with a readiness line, a bounded output tail and a safe ``stop()``.

Each process the service starts (broker, simulator, worker) is owned by one of these.
``start()`` waits for the line that says the process is ready, up to a timeout, and
fails with the process's last output if it exits or stays silent. ``poll()`` says whether
it has exited since; ``ProcessDiedError`` reports such an exit with the last output.
``stop()`` sends SIGTERM, then SIGKILL after a grace period; calling it twice is safe.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["ManagedProcess", "ProcessDiedError", "ProcessStartError", "free_port"]

PR_SET_PDEATHSIG = 1
# After an exit, how long to let the output reader drain the pipe (a grandchild that
# inherited it could hold it open forever).
DRAIN_TIMEOUT_S = 2.0


class ProcessStartError(RuntimeError):
    pass


class ProcessDiedError(RuntimeError):
    """A process exited while its owner still needed it; the message ends with its
    last output."""

    def __init__(self, process: ManagedProcess, code: int) -> None:
        log = f" ({process.log_path})" if process.log_path else ""
        super().__init__(
            f"{process.name} exited with {_describe_exit(code)}; last lines of its log{log}:\n"
            f"{process.output_tail()}"
        )
        self.process = process
        self.code = code


def _describe_exit(code: int) -> str:
    """``code 3``, or ``code -9 (SIGKILL)`` for a process a signal ended."""
    by_code = {-sig.value: sig.name for sig in signal.Signals}
    return f"code {code} ({by_code[code]})" if code in by_code else f"code {code}"


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the thread that started it ends. Used only for the
    main thread (it lives as long as the owner): a crashed owner leaves no orphans."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# Every process still running when the owner exits normally is stopped then (processes
# started from other threads have no PDEATHSIG: an executor thread may end before them).
_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


@atexit.register
def _stop_live_processes() -> None:
    for process in list(_LIVE):
        process.stop(grace=5.0)


def _pdeathsig_safe() -> bool:
    return (
        sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: str,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._ready = re.compile(ready)
        self._env = {**os.environ, **(env or {})}
        self._log_path = log_path
        self._tail: deque[str] = deque(maxlen=200)
        self._match: re.Match[str] | None = None
        self._ready_event = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> re.Match[str]:
        """Start the process and wait for its readiness line; return the match."""
        self._proc = subprocess.Popen(
            self._argv,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_die_with_parent if _pdeathsig_safe() else None,
        )
        _LIVE.add(self)
        self._pump = threading.Thread(target=self._read_output, name=self.name, daemon=True)
        self._pump.start()
        if not self._ready_event.wait(timeout) or self._match is None:
            code = self._proc.poll()
            self.stop()
            state = f"exited with {code}" if code is not None else f"not ready in {timeout}s"
            raise ProcessStartError(f"{self.name} {state}; last output:\n{self.output_tail()}")
        return self._match

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def output_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._tail)[-lines:])

    def poll(self) -> int | None:
        """The exit code if the process has exited (then ``output_tail()`` holds its last
        lines), else None; None before ``start()`` too."""
        code = self._proc.poll() if self._proc else None
        if code is not None and self._pump is not None:
            self._pump.join(DRAIN_TIMEOUT_S)
        return code

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the process exits; its exit code. ``subprocess.TimeoutExpired``
        if it is still running after ``timeout`` seconds."""
        return self._proc.wait(timeout) if self._proc else None

    def kill(self) -> None:
        """SIGKILL, no grace: for tests of what survives a crash."""
        self._signal(signal.SIGKILL)
        if self._proc:
            self._proc.wait()

    def stop(self, grace: float = 15.0) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self._proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._proc.wait()

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)  # the whole group: workers may have children

    def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        log: IO[str] | None = self._log_path.open("a") if self._log_path else None
        try:
            for line in self._proc.stdout:
                self._tail.append(line.rstrip("\n"))
                if log:
                    log.write(line)
                    log.flush()
                if self._match is None and (match := self._ready.search(line)):
                    self._match = match
                    self._ready_event.set()
        finally:
            if log:
                log.close()
            self._ready_event.set()  # wake start() if the process ended before it was ready
