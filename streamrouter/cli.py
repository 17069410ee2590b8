"""The ``streamrouter`` command: Faust's own CLI with the service's commands added.

streamrouter worker          the Faust worker (broker from STREAMROUTER_BROKER,
                             model API from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY)
streamrouter broker          the embedded Kafka-compatible broker, in the foreground
streamrouter sim             the simulated Anthropic Messages API
streamrouter dev             broker + simulator + worker, sample requests, a table
streamrouter send PROMPT     publish a request (or a JSON request on stdin)
streamrouter tail            print results as they arrive
streamrouter topics create   create the Kafka topics (or `check` them)
streamrouter eval            replay labeled data through the pipeline; RouteLLM metrics
streamrouter calibrate       pick a threshold meeting a target; write it to the policy
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import faust
import faust.cli.faust  # Faust's own commands first, so ours can replace `send`
from faust.cli import AppCommand, argument, option

from streamrouter.admin import register_topic_commands
from streamrouter.app import create_app
from streamrouter.client import StreamClient
from streamrouter.config import Policy, ServiceConfig, Settings, load_service_config
from streamrouter.embedded.broker import embedded_broker
from streamrouter.embedded.demo import run_demo
from streamrouter.errors import ConfigError
from streamrouter.eval.commands import register_eval_commands
from streamrouter.events import LLMRequest, LLMResult, Message
from streamrouter.partitions import adopt_partitions
from streamrouter.report import format_report, summarize
from streamrouter.sim.scenario import Scenario
from streamrouter.sim.server import serve

__all__ = ["main"]


def main() -> None:
    try:
        config = load_service_config()
        asking_for_help = "--help" in sys.argv
        worker = _command(sys.argv[1:]) == "worker"
        if worker and not asking_for_help and not os.environ.get("ANTHROPIC_API_KEY"):
            raise ConfigError(
                "ANTHROPIC_API_KEY is not set (for the simulator any value will do, "
                "with ANTHROPIC_BASE_URL pointing at it)"
            )
        if worker and not asking_for_help:
            config = _with_adopted_partitions(config)
        app = create_app(config.settings, config.policy, config.prices)
    except ConfigError as exc:
        print(f"streamrouter: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    _register_commands(app, config.settings, config.policy)
    _register_report_command(app, config)
    app.main()


def _with_adopted_partitions(config: ServiceConfig) -> ServiceConfig:
    """The worker's config with the partition count the broker's topics call for. On a
    loop of its own: ``asyncio.run`` would leave no current loop for the Faust worker."""
    loop = asyncio.new_event_loop()
    try:
        settings = loop.run_until_complete(adopt_partitions(config.settings, config.policy))
    finally:
        loop.close()
    return replace(config, settings=settings)


def _command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _register_commands(app: faust.App, settings: Settings, policy: Policy) -> None:
    @app.command(
        option("--port", type=int, default=9092, show_default=True, help="Kafka port (0: free)")
    )
    async def broker(self: AppCommand, port: int) -> None:
        """Run the embedded Kafka-compatible broker (tansu, memory storage)."""
        process, url = embedded_broker(port)
        with process:
            await asyncio.to_thread(process.start, 30.0)
            print(f"streamrouter broker listening on {url}", flush=True)
            await asyncio.to_thread(process.wait)

    @app.command(
        option("--host", default="127.0.0.1", show_default=True),
        option("--port", type=int, default=8080, show_default=True, help="0: a free port"),
        option("--scenario", type=click_path(), default=None, help="Scenario YAML/JSON file."),
    )
    async def sim(self: AppCommand, host: str, port: int, scenario: str | None) -> None:
        """Run the simulated Anthropic Messages API (POST /v1/messages)."""
        loaded = Scenario.load(scenario) if scenario else Scenario()
        async with serve(loaded, host, port) as server:
            print(f"streamrouter sim listening on {server.url}", flush=True)
            await asyncio.Event().wait()

    @app.command(
        option("--scenario", type=click_path(), default=None, help="Scenario for the simulator."),
        option("--kafka-port", type=int, default=0, help="Broker port (default: a free one)."),
        option("--serve", is_flag=True, help="Keep running after the demo, until Ctrl-C."),
    )
    async def dev(self: AppCommand, scenario: str | None, kafka_port: int, serve: bool) -> None:
        """Start broker, simulator and worker; send sample requests; print a table."""
        await run_demo(
            scenario=Path(scenario) if scenario else None, kafka_port=kafka_port, serve=serve
        )

    @app.command(
        argument("prompt", nargs=-1),
        option("--task-type", default=None, help="Task type (e.g. commit_message)."),
        option("--tier", default=None, help="Pin a tier (skips routing)."),
        option("--system", default=None, help="System prompt."),
        option("--tenant", default="default", show_default=True),
        option("--max-tokens", type=int, default=1024, show_default=True),
        option("--id", "request_id", default=None, help="Request id (default: a new UUID)."),
        option("--wait", type=float, default=0, help="Wait up to N seconds for the result."),
    )
    async def send(
        self: AppCommand,
        prompt: tuple[str, ...],
        task_type: str | None,
        tier: str | None,
        system: str | None,
        tenant: str,
        max_tokens: int,
        request_id: str | None,
        wait: float,
    ) -> None:
        """Publish a request: the prompt as arguments, or a JSON request on stdin."""
        if prompt:
            request = LLMRequest(
                request_id=request_id or str(uuid.uuid4()),
                tenant=tenant,
                task_type=task_type,
                tier=tier,
                system=system,
                messages=[Message(role="user", content=" ".join(prompt))],
                max_tokens=max_tokens,
            )
        else:
            request = LLMRequest.model_validate_json(sys.stdin.read())
        async with StreamClient(settings.broker, settings.topics) as client:
            await client.send(request)
            print(f"sent {request.request_id} to {settings.topics.requests}", flush=True)
            if wait:
                found = await client.wait_for_results([request.request_id], wait)
                print(_json(found[request.request_id][0]))

    @app.command(
        option("--from-beginning", is_flag=True, help="Replay the whole result topic first."),
    )
    async def tail(self: AppCommand, from_beginning: bool) -> None:
        """Print results (one JSON object a line) as they arrive, until Ctrl-C."""
        async with StreamClient(settings.broker, settings.topics) as client:
            async for result in client.results(from_beginning=from_beginning):
                print(_json(result), flush=True)

    register_topic_commands(app, settings, policy)
    register_eval_commands(app, settings)


def _register_report_command(app: faust.App, config: ServiceConfig) -> None:
    @app.command(
        option("--since", default=None, help="Only results completed since: 30m, 2h, 1d or ISO."),
        option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    )
    async def report(self: AppCommand, since: str | None, as_json: bool) -> None:
        """Per route and final tier: requests, cost, latency, escalation and fallback rates."""
        settings = config.settings
        top_model = config.policy.tiers[-1].model
        async with StreamClient(settings.broker, settings.topics) as client:
            results = await client.results_so_far()
        figures = summarize(results, config.prices, top_model, parse_since(since))
        print(json.dumps(figures.to_json(), indent=2) if as_json else format_report(figures))


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``30m`` / ``2h`` / ``1d`` ago, or an ISO-8601 time (UTC when no offset)."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[:-1].isdigit() and value[-1] in units:
        return now - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"--since {value!r}: use 30m, 2h, 1d or an ISO time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json(result: LLMResult) -> str:
    return json.dumps(result.model_dump(mode="json"))


def click_path() -> click.Path:
    return click.Path(exists=True, dir_okay=False)
