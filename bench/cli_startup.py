"""How long the ``streamrouter`` commands take as a whole process, against ``python -c pass``.

    nice -n 5 .venv/bin/python bench/cli_startup.py [--runs 5] [--code DIR]

Each command is run ``--runs`` times as its own process (``python -m streamrouter ...``,
with ``DIR`` as its working directory and ``PYTHONPATH``: the repository by default, or a
copy of older code to compare with) against an embedded broker the script starts. It
prints the median wall time, its ratio to ``python -c pass`` and the median peak RSS
(from ``/usr/bin/time``, when there is one). The broker gets the service's topics
(``topics create``) and one result on the result topic first, so ``report`` has
something to read and ``tail --from-beginning`` a line to print. ``tail`` is timed
twice: from its start to that first line, and from the SIGINT sent then (to its process
group, as Ctrl-C does) to its exit. Goals: ``--help`` under 0.5 s, ``send`` (no
``--wait``) under 1 s, ``tail`` gone within 1 s of the first Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streamrouter.client import StreamClient
from streamrouter.codec import encode
from streamrouter.config import Topics
from streamrouter.embedded.broker import embedded_broker
from streamrouter.events import LLMResult

ROOT = Path(__file__).resolve().parent.parent
TAIL_TIMEOUT_S = 60.0

# (label, arguments after `python -m streamrouter`)
COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    (
        "send (no --wait)",
        ["send", "bench: write a commit message", "--task-type", "commit_message"],
    ),
    ("report", ["report"]),
    ("topics check", ["topics", "check"]),
    ("sim --help", ["sim", "--help"]),
    ("broker --help", ["broker", "--help"]),
]


@dataclass(frozen=True)
class Run:
    """One finished process: wall seconds, peak RSS in MiB (None: not measured), exit code."""

    seconds: float
    rss_mib: float | None
    code: int


class Spawned:
    """A command started under ``/usr/bin/time`` (for its peak RSS: a child's own
    ``ru_maxrss`` would count the pages of this process, which it was forked from), in a
    process group of its own, as a shell runs a foreground command."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path, stdout: int) -> None:
        self._rss_file = Path(tempfile.mkstemp(prefix="cli-startup-rss-")[1])
        time_bin = shutil.which("time")
        prefix = [time_bin, "-f", "%M", "-o", str(self._rss_file)] if time_bin else []
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [*prefix, *argv],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole group (``time`` ignores it, the command gets it)."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self) -> tuple[int, float | None, str]:
        """Exit code, peak RSS (MiB) and stderr."""
        assert self.process.stderr is not None
        stderr = self.process.stderr.read().decode()
        code = self.process.wait()
        text = self._rss_file.read_text().split()
        self._rss_file.unlink()
        rss = int(text[-1]) / 1024 if text and text[-1].isdigit() else None
        if text and not text[-1].isdigit():  # "Command exited with non-zero status N"
            stderr += " ".join(text)
        return code, rss, stderr


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> Run:
    spawned = Spawned(argv, env, cwd, subprocess.DEVNULL)
    code, rss, stderr = spawned.wait()
    seconds = time.perf_counter() - spawned.started
    if code != 0:
        raise SystemExit(f"{' '.join(argv[2:])} exited with {code}:\n{stderr}")
    return Run(seconds, rss, code)


def timed_tail(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[Run, Run]:
    """(start to the first line, SIGINT to exit)."""
    spawned = Spawned(argv, env, cwd, subprocess.PIPE)
    stdout = spawned.process.stdout
    assert stdout is not None
    ready, _, _ = select.select([stdout], [], [], TAIL_TIMEOUT_S)
    if not ready or not stdout.readline():
        spawned.process.kill()
        raise SystemExit(f"tail printed nothing within {TAIL_TIMEOUT_S:.0f}s")
    first_line = time.perf_counter() - spawned.started
    interrupted = time.perf_counter()
    spawned.interrupt()
    code, rss, _ = spawned.wait()
    stopped = time.perf_counter() - interrupted
    return Run(first_line, rss, 0), Run(stopped, rss, code)


async def seed(broker_url: str) -> None:
    """One result on the result topic, as a worker would have written it."""
    result = LLMResult(
        request_id="bench-cli-result",
        tenant="default",
        status="ok",
        answer="done",
        tier="haiku",
        model="claude-haiku-4-5",
        completed_at=datetime.now(UTC),
    )
    client = StreamClient(broker_url, Topics(prefix="llm."))
    async with client:
        await client.send_raw(result.request_id.encode(), encode(result), topic="llm.results")


def median_rss(runs: Sequence[Run]) -> str:
    values = [r.rss_mib for r in runs if r.rss_mib is not None]
    return f"{statistics.median(values):8.1f}" if values else f"{'-':>8}"


def main(runs: int, code: Path) -> None:
    broker, url = embedded_broker()
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "STREAMROUTER_"))
        },
        "STREAMROUTER_BROKER": url,
        "PYTHONPATH": str(code),
    }
    streamrouter = [sys.executable, "-m", "streamrouter"]
    with broker:
        broker.start(30)
        created = subprocess.run(
            [*streamrouter, "topics", "create"], cwd=code, env=env, capture_output=True, check=False
        )
        if created.returncode != 0:
            raise SystemExit(created.stdout.decode() + created.stderr.decode())
        asyncio.run(seed(url))
        baseline = [timed([sys.executable, "-c", "pass"], env, code) for _ in range(runs)]
        figures: list[tuple[str, list[Run]]] = [("python -c pass", baseline)]
        for label, args in COMMANDS:
            figures.append((label, [timed([*streamrouter, *args], env, code) for _ in range(runs)]))
        tails = [
            timed_tail([*streamrouter, "tail", "--from-beginning"], env, code) for _ in range(runs)
        ]
        figures.append(("tail: start to first line", [first for first, _ in tails]))
        figures.append(("tail: SIGINT to exit", [stop for _, stop in tails]))
        exits = {stop.code for _, stop in tails}

    base = statistics.median(r.seconds for r in baseline)
    print(f"code: {code}; {runs} runs each, medians; broker: embedded tansu")
    print(f"{'command':<28} {'wall s':>8} {'x pass':>8} {'min s':>7} {'max s':>7} {'RSS MiB':>8}")
    for label, measured in figures:
        seconds = statistics.median(r.seconds for r in measured)
        print(
            f"{label:<28} {seconds:8.3f} {seconds / base:8.1f}"
            f" {min(r.seconds for r in measured):7.3f} {max(r.seconds for r in measured):7.3f}"
            f" {median_rss(measured)}"
        )
    print(f"tail exit codes after SIGINT: {sorted(exits)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="Directory holding the streamrouter package."
    )
    args = parser.parse_args()
    main(args.runs, args.code.resolve())
