"""The `streamrouter` command line without a broker: what it imports, how it refuses bad
input, and how it hands the worker to Faust.

The subprocess tests run `python -m streamrouter` from the working directory, so they
also run against another checkout of the code (its directory as cwd and PYTHONPATH).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from streamrouter.embedded.process import free_port

# The worker's stack: none of it may load for the commands that do not run a worker.
WORKER_STACK = (
    "anthropic",
    "faust.agents",
    "sklearn",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "streamrouter.agents",
    "streamrouter.app",
)

# Which of WORKER_STACK are in sys.modules, as "WORKER-STACK:a,b" ("WORKER-STACK:": none).
LOADED = f"""
def loaded():
    return "WORKER-STACK:" + ",".join(
        s for s in {WORKER_STACK!r} if any(m == s or m.startswith(s + ".") for m in sys.modules)
    )
"""

# Runs the CLI as `python -m streamrouter` does, then prints LOADED on stderr, after the
# command's own output.
PROBE = f"""
import atexit, sys
{LOADED}
atexit.register(lambda: print(loaded(), file=sys.stderr))
sys.argv = ["streamrouter", *sys.argv[1:]]
from streamrouter.cli import main
main()
"""

UNREACHABLE = f"kafka://127.0.0.1:{free_port()}"


def streamrouter(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STREAMROUTER_")}
    return subprocess.run(
        [sys.executable, "-m", "streamrouter", *args],
        input=stdin,
        env={**base, "STREAMROUTER_BROKER": UNREACHABLE, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command printed on stderr (and nothing on stdout)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout == ""
    return lines[0]


# --- what loads ------------------------------------------------------------------------


def test_the_cli_module_alone_imports_nothing_of_the_worker() -> None:
    code = f"import sys\nimport streamrouter.cli\n{LOADED}\nprint(loaded())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "WORKER-STACK:"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["send", "hello", "--task-type", "commit_message"],
        ["tail"],
        ["report"],
        ["topics", "check", "--wait", "0"],
        ["sim", "--help"],
        ["broker", "--help"],
        ["dev", "--help"],
        ["eval", "--help"],
        ["calibrate", "--help"],
    ],
    ids=" ".join,
)
def test_a_command_run_to_its_end_imports_nothing_of_the_worker(args: list[str]) -> None:
    """Against a broker that is not there, so each goes as far as it can."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env={**os.environ, "STREAMROUTER_BROKER": UNREACHABLE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = done.stderr.strip().splitlines()[-1]
    assert report == "WORKER-STACK:", done.stderr


# --- the dispatcher ---------------------------------------------------------------------


def test_help_lists_every_command_with_its_line() -> None:
    from streamrouter.cli import COMMANDS, FAUST_COMMANDS

    done = streamrouter("--help")
    assert done.returncode == 0, done.stderr
    flat = " ".join(done.stdout.split())
    for name, (_, line) in COMMANDS.items():
        assert f"{name} {line}" in flat
    for name, line in FAUST_COMMANDS.items():
        assert f"{name} {line}" in flat
    assert "worker Run a worker" in flat


def test_each_listed_line_is_its_command_s_own() -> None:
    import click

    from streamrouter.cli import COMMANDS, cli

    ctx = click.Context(cli)
    for name, (_, line) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert command.help.splitlines()[0] == line, name


def test_faust_s_commands_are_all_handed_to_it() -> None:
    import faust.cli.faust

    from streamrouter.cli import COMMANDS, FAUST_COMMANDS

    assert set(faust.cli.faust.cli.commands) - {"send"} == set(FAUST_COMMANDS)
    assert not set(COMMANDS) & set(FAUST_COMMANDS)


def test_faust_s_options_with_a_value_are_known() -> None:
    """``command_name`` skips them: ``--loglevel info worker`` names the worker."""
    from faust.cli.base import builtin_options, option

    from streamrouter.cli import _FAUST_VALUE_OPTIONS

    with_value = {
        name
        for o in builtin_options
        if isinstance(o, option)
        and not o.kwargs.get("is_flag")
        and not any("/" in name for name in o.args)  # --quiet/--no-quiet, -q
        for name in o.args
    }
    assert with_value == _FAUST_VALUE_OPTIONS


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        ([], None),
        (["--help"], None),
        (["worker", "--loglevel", "info", "--web-port", "6067"], "worker"),
        (["--loglevel", "info", "worker"], "worker"),
        (["-l", "info", "-A", "x", "tables"], "tables"),
        (["--loglevel=info", "worker"], "worker"),
        (["--json", "report", "--since", "1d"], "report"),
        (["send", "worker"], "send"),
    ],
)
def test_command_name(argv: list[str], name: str | None) -> None:
    from streamrouter.cli import command_name

    assert command_name(argv) == name


def test_worker_help_is_faust_s() -> None:
    done = streamrouter("worker", "--help", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage: python -m streamrouter worker" in done.stdout
    assert "--web-port" in done.stdout


def test_a_bare_command_prints_the_help() -> None:
    done = streamrouter()
    assert done.returncode == 2
    assert "Commands:" in done.stdout + done.stderr


# --- bad input: one line, non-zero exit -------------------------------------------------


def test_malformed_json_on_stdin() -> None:
    done = streamrouter("send", stdin='{"request_id": "r-1", "messages": [')
    assert done.returncode == 2
    assert one_line(done).startswith("streamrouter send: the request on stdin is invalid: ")
    assert "Invalid JSON" in done.stderr


def test_a_message_whose_content_is_a_list_of_blocks() -> None:
    # Content blocks are a valid request: it goes on to the (unreachable) broker.
    request = (
        '{"request_id": "r-1", "messages": [{"role": "user",'
        ' "content": [{"type": "text", "text": "hi"}]}]}'
    )
    done = streamrouter("send", stdin=request)
    assert done.returncode == 1
    assert "cannot reach the broker" in one_line(done)


def test_a_block_of_an_unknown_type() -> None:
    request = '{"request_id": "r-1", "messages": [{"role": "user", "content": [{"type": "x"}]}]}'
    done = streamrouter("send", stdin=request)
    assert done.returncode == 2
    assert "unknown content block type" in one_line(done)


def test_an_empty_stdin() -> None:
    done = streamrouter("send", stdin="")
    assert done.returncode == 2
    assert "stdin is empty" in one_line(done)


def test_an_unknown_task_type() -> None:
    done = streamrouter("send", "hello", "--task-type", "comit_message")
    assert done.returncode == 2
    line = one_line(done)
    assert line.startswith("streamrouter send: unknown --task-type 'comit_message'")
    assert "did you mean 'commit_message'?" in line


def test_a_task_type_is_known_however_it_is_spelled() -> None:
    """Normalised as the task map does: it goes on to the (unreachable) broker."""
    done = streamrouter("send", "hello", "--task-type", "Commit-Message")
    assert done.returncode == 1
    assert "cannot reach the broker" in one_line(done)


def test_an_unknown_tier() -> None:
    done = streamrouter("send", "hello", "--tier", "large")
    assert done.returncode == 2
    assert one_line(done) == (
        "streamrouter send: unknown --tier 'large'; the policy's tiers are haiku, sonnet, opus"
    )


def test_an_invalid_option_value() -> None:
    done = streamrouter("send", "hello", "--max-tokens", "0")
    assert done.returncode == 2
    assert "max_tokens: Input should be greater than or equal to 1" in one_line(done)


def test_an_unknown_option_says_where_the_help_is() -> None:
    done = streamrouter("send", "hello", "--colour")
    assert done.returncode == 2
    assert one_line(done) == (
        "streamrouter send: No such option: --colour (see 'python -m streamrouter send --help')"
    )


def test_a_bad_since() -> None:
    done = streamrouter("report", "--since", "yesterday")
    assert done.returncode == 2
    assert "--since 'yesterday': use 30m, 2h, 1d or an ISO time" in one_line(done)


def test_a_bad_policy_file() -> None:
    done = streamrouter("send", "hello", env={"STREAMROUTER_POLICY_FILE": "/nonexistent.yaml"})
    assert done.returncode == 2
    assert one_line(done).startswith("streamrouter send: cannot read policy file")


@pytest.mark.parametrize("args", [["send", "hello"], ["tail"], ["report"]], ids=" ".join)
def test_an_unreachable_broker(args: list[str]) -> None:
    done = streamrouter(*args)
    assert done.returncode == 1
    assert one_line(done).startswith(
        f"streamrouter {args[0]}: cannot reach the broker at {UNREACHABLE} ("
    )


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"kafka://127.0.0.1:{listener.getsockname()[1]}"


def test_a_broker_that_never_answers_is_given_up_after_the_timeout(silent_broker: str) -> None:
    done = streamrouter(
        "send", "hello", "--timeout", "1", env={"STREAMROUTER_BROKER": silent_broker}
    )
    assert done.returncode == 1
    assert one_line(done) == (
        f"streamrouter send: no answer from the broker at {silent_broker} within 1s"
    )


# --- the pure parts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_type", "tier", "error"),
    [
        (None, None, None),
        ("commit_message", "opus", None),
        (" Code Review ", None, None),
        ("orchestration", None, None),
        ("summarise", None, "unknown --task-type 'summarise' (did you mean 'summarize'?)"),
        ("zzz", None, "unknown --task-type 'zzz'; the policy's task types are architecture,"),
        (None, "Opus", "unknown --tier 'Opus'"),
    ],
)
def test_check_options(task_type: str | None, tier: str | None, error: str | None) -> None:
    from streamrouter.commands import BadInputError
    from streamrouter.commands.client import check_options
    from streamrouter.config import Policy

    if error is None:
        check_options(Policy(), task_type, tier)
        return
    with pytest.raises(BadInputError) as raised:
        check_options(Policy(), task_type, tier)
    assert raised.value.message.startswith(error)
    assert raised.value.exit_code == 2


def test_validation_errors_on_one_line() -> None:
    from pydantic import ValidationError

    from streamrouter.commands.client import describe_validation_error
    from streamrouter.events import LLMRequest

    with pytest.raises(ValidationError) as raised:
        LLMRequest.model_validate({"request_id": "", "max_tokens": 0, "mode": "fast"})
    assert describe_validation_error(raised.value) == (
        "request_id: String should have at least 1 character; "
        "mode: Input should be 'route' or 'orchestrate'; "
        "max_tokens: Input should be greater than or equal to 1"
    )
