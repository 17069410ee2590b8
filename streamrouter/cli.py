"""The ``streamrouter`` command: the service's commands, and Faust's for the worker.

streamrouter worker          the Faust worker (broker from STREAMROUTER_BROKER,
                             model API from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY)
streamrouter broker          the embedded Kafka-compatible broker, in the foreground
streamrouter sim             the simulated Anthropic Messages API
streamrouter dev             broker + simulator + worker, sample requests, a table
streamrouter send PROMPT     publish a request (or a JSON request on stdin)
streamrouter tail            print results as they arrive
streamrouter report          cost, latency, escalation and fallback rates of the results
streamrouter feedback ID good|bad   rate a result (the report shows the ratings per route)
streamrouter topics create   create the Kafka topics (or `check` them)
streamrouter eval            replay labeled data through the pipeline; RouteLLM metrics
streamrouter calibrate       pick a threshold meeting a target; write it to the policy

``worker`` and Faust's other commands (``FAUST_COMMANDS``) are handed to the Faust app's
own command line (``app.main()``), as they always were: building the app imports the
worker's whole stack (the agents, the anthropic SDK, OpenTelemetry). The service's
commands need none of it. They are plain click commands, each imported from its module
(``COMMANDS``) only when it runs, so ``--help``, ``send`` and ``tail`` answer at once.
Bad input to them is one line on stderr and exit 2 (1 for a broker that cannot be
reached), not a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from streamrouter.config import ServiceConfig

__all__ = ["COMMANDS", "FAUST_COMMANDS", "cli", "main"]

# The service's commands: name -> (the click command as "module:attribute", its line in
# --help, the first line of its docstring; a test checks that they agree).
COMMANDS: dict[str, tuple[str, str]] = {
    "send": (
        "streamrouter.commands.client:send",
        "Publish a request: the prompt as arguments, or a JSON request on stdin.",
    ),
    "tail": (
        "streamrouter.commands.client:tail",
        "Print results (one JSON object a line) as they arrive, until Ctrl-C.",
    ),
    "report": (
        "streamrouter.commands.client:report",
        "Per route and final tier: requests, cost, latency, escalation and fallback rates.",
    ),
    "feedback": (
        "streamrouter.commands.client:feedback",
        "Rate a request's result good or bad (or score it 0-1) on the feedback topic.",
    ),
    "topics": (
        "streamrouter.commands.topics:topics",
        "Create (if missing) or check the service's Kafka topics; non-zero exit if wrong.",
    ),
    "dev": (
        "streamrouter.commands.stack:dev",
        "Start broker, simulator and worker; send sample requests; print a table.",
    ),
    "broker": (
        "streamrouter.commands.stack:broker",
        "Run the embedded Kafka-compatible broker (tansu, memory storage).",
    ),
    "sim": (
        "streamrouter.commands.stack:sim",
        "Run the simulated Anthropic Messages API (POST /v1/messages).",
    ),
    "eval": (
        "streamrouter.eval.commands:evaluate",
        "Replay a labeled dataset through the pipeline; RouteLLM metrics for each policy.",
    ),
    "calibrate": (
        "streamrouter.eval.commands:calibrate",
        "Pick the threshold (or cut-off) meeting a target and write it to the policy.",
    ),
}

# Faust's commands (its own `send` is replaced by ours): name -> its line in --help. They
# run on the Faust app's command line, which builds the app.
FAUST_COMMANDS: dict[str, str] = {
    "worker": "Run a worker: the routing service itself (Faust's worker command).",
    "agents": "List agents.",
    "tables": "List available tables.",
    "reset": "Delete local table state.",
    "clean-versions": "Delete old version directories.",
    "livecheck": "Manage LiveCheck instances.",
    "model": "Show model detail.",
    "models": "List all available models as a tabulated list.",
    "completion": "Output shell completion to be evaluated by the shell.",
}

# Faust's options before the command that take a value (faust.cli.base.builtin_options).
_FAUST_VALUE_OPTIONS = frozenset(
    {
        "-A",
        "--app",
        "-W",
        "--workdir",
        "-D",
        "--datadir",
        "-L",
        "--loop",
        "-f",
        "--logfile",
        "-l",
        "--loglevel",
        "--blocking-timeout",
        "--console-port",
    }
)

# What click 8.2+ raises for a bare group (8.0 and 8.1 print the help and exit 0).
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main() -> None:
    argv = sys.argv[1:]
    command = command_name(argv)
    if command in FAUST_COMMANDS or (command is None and set(argv) - {"--help"}):
        _faust_main(argv)  # Faust's commands, and its options alone (--version)
    _click_main(argv, command)


def command_name(argv: list[str]) -> str | None:
    """The command ``argv`` names: its first argument that is neither an option nor the
    value of one of Faust's options before the command (``--loglevel info worker``)."""
    args = iter(argv)
    for arg in args:
        if arg in _FAUST_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


class _Commands(click.Group):
    """The service's commands, each imported when it runs; Faust's listed after them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *FAUST_COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, _, attribute = COMMANDS[cmd_name][0].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        if cmd_name in FAUST_COMMANDS:
            return _faust_command(cmd_name)
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections = [
            ("Commands", [(name, line) for name, (_, line) in COMMANDS.items()]),
            ("Faust's commands (they load the worker's app)", list(FAUST_COMMANDS.items())),
        ]
        for title, rows in sections:
            with formatter.section(title):
                formatter.write_dl(rows)


@click.group(cls=_Commands)
def cli() -> None:
    """Route LLM requests across Claude tiers, over Kafka.

    `streamrouter worker` runs the service; `streamrouter dev` runs it with an embedded
    broker and a simulated model API. The other commands talk to its topics; the broker
    is STREAMROUTER_BROKER (default kafka://127.0.0.1:9092).
    """


def _faust_command(name: str) -> click.Command:
    """``name`` as a click command that hands the whole command line to Faust's."""
    return click.Command(
        name,
        help=FAUST_COMMANDS[name],
        callback=lambda: _faust_main(sys.argv[1:]),
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def _click_main(argv: list[str], command: str | None) -> NoReturn:
    from streamrouter.errors import ConfigError

    prefix = f"streamrouter {command}" if command in COMMANDS else "streamrouter"
    try:
        code: Any = cli.main(argv, standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:  # a bare `streamrouter`: the help, exit 2
        exc.show()
        raise SystemExit(exc.exit_code) from exc
    except click.UsageError as exc:  # click's: a wrong option or argument
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"{prefix}: {exc.format_message()}{hint}", exc.exit_code)
    except click.ClickException as exc:  # ours: BadInputError (2), unreachable broker (1)
        _fail(f"{prefix}: {exc.format_message()}", exc.exit_code)
    except ConfigError as exc:
        _fail(f"{prefix}: {exc}", 2)
    except click.Abort:
        _fail("Aborted!", 1)
    raise SystemExit(code if isinstance(code, int) else 0)


def _fail(line: str, code: int) -> NoReturn:
    click.echo(line, err=True)
    raise SystemExit(code)


def _faust_main(argv: list[str]) -> NoReturn:
    """Faust's command line on the service's app: the worker, as it always ran."""
    from streamrouter.app import create_app
    from streamrouter.config import load_service_config
    from streamrouter.errors import ConfigError

    try:
        config = load_service_config()
        asking_for_help = "--help" in argv
        worker = command_name(argv) == "worker"
        if worker and not asking_for_help and not os.environ.get("ANTHROPIC_API_KEY"):
            raise ConfigError(
                "ANTHROPIC_API_KEY is not set (for the simulator any value will do, "
                "with ANTHROPIC_BASE_URL pointing at it)"
            )
        if worker and not asking_for_help:
            config = _with_adopted_partitions(config)
        app = create_app(config.settings, config.policy, config.prices, config.policy_version)
    except ConfigError as exc:
        print(f"streamrouter: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    app.main()


def _with_adopted_partitions(config: ServiceConfig) -> ServiceConfig:
    """The worker's config with the partition count the broker's topics call for. On a
    loop of its own: ``asyncio.run`` would leave no current loop for the Faust worker."""
    import asyncio
    from dataclasses import replace

    from streamrouter.partitions import adopt_partitions

    loop = asyncio.new_event_loop()
    try:
        settings = loop.run_until_complete(adopt_partitions(config.settings, config.policy))
    finally:
        loop.close()
    return replace(config, settings=settings)
