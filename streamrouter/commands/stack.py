"""``streamrouter broker``, ``sim`` and ``dev``: the embedded stack's parts, in the
foreground until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streamrouter.commands import option, run

if TYPE_CHECKING:
    from streamrouter.sim.scenario import Scenario

__all__ = ["broker", "dev", "sim"]


def _existing_file() -> click.Path:
    return click.Path(exists=True, dir_okay=False)


@click.command()
@option("--port", type=int, default=9092, help="Kafka port (0: free)")
def broker(port: int) -> None:
    """Run the embedded Kafka-compatible broker (tansu, memory storage)."""
    run(_broker(port))


@click.command()
@option("--host", default="127.0.0.1")
@option("--port", type=int, default=8080, help="0: a free port")
@option("--scenario", type=_existing_file(), default=None, help="Scenario YAML/JSON file.")
def sim(host: str, port: int, scenario: str | None) -> None:
    """Run the simulated Anthropic Messages API (POST /v1/messages)."""
    from streamrouter.sim.scenario import Scenario

    loaded = Scenario.load(scenario) if scenario else Scenario()
    run(_sim(loaded, host, port))


@click.command()
@option("--scenario", type=_existing_file(), default=None, help="Scenario for the simulator.")
@option("--kafka-port", type=int, default=0, help="Broker port (default: a free one).")
@option("--serve", is_flag=True, help="Keep running after the demo, until Ctrl-C.")
def dev(scenario: str | None, kafka_port: int, serve: bool) -> None:
    """Start broker, simulator and worker; send sample requests; print a table."""
    from streamrouter.embedded.demo import run_demo

    run(run_demo(scenario=Path(scenario) if scenario else None, kafka_port=kafka_port, serve=serve))


async def _broker(port: int) -> None:
    from streamrouter.embedded.broker import embedded_broker

    process, url = embedded_broker(port)
    with process:
        await asyncio.to_thread(process.start, 30.0)
        print(f"streamrouter broker listening on {url}", flush=True)
        await asyncio.to_thread(process.wait)


async def _sim(scenario: Scenario, host: str, port: int) -> None:
    from streamrouter.sim.server import serve

    async with serve(scenario, host, port) as server:
        print(f"streamrouter sim listening on {server.url}", flush=True)
        await asyncio.Event().wait()
