"""The service's own commands, as plain click commands: what they share.

Each module holds a few commands (``client``: send, tail, report; ``stack``: broker,
sim, dev; ``topics``); ``streamrouter.cli`` imports one only when its command runs, and
a command imports what it uses only when it runs. None of them builds the Faust app, so
none imports the worker's stack (the agents, the anthropic SDK, OpenTelemetry).

``option`` is click's, showing defaults in ``--help`` as Faust's did. ``run`` runs a
command's coroutine: the first Ctrl-C, or SIGTERM, cancels it (its Kafka clients close
on the way out) and the command exits 0, as under Faust's worker; a broker that cannot
be reached is one line and exit 1. ``BadInputError`` is input a command cannot use: one
line on stderr and exit 2 (``cli.main`` prints it).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from functools import partial
from typing import Any, TypeVar

import click

__all__ = ["BadInputError", "option", "run"]

T = TypeVar("T")

option = partial(click.option, show_default=True)


class BadInputError(click.ClickException):
    """Input the command cannot use (a malformed request, an unknown task type)."""

    exit_code = 2


def run(main: Coroutine[Any, Any, T], *, broker: str | None = None) -> T:
    """Run ``main`` on a new event loop and return what it returns. With ``broker``, a
    broker that cannot be reached, or fails, is a ``ClickException`` (one line, exit 1)."""
    # aiokafka logs each failed connection before raising; the command says it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if broker is None:
        return _run(main)
    from aiokafka.errors import KafkaConnectionError, KafkaError

    try:
        return _run(main)
    except KafkaConnectionError as exc:
        raise click.ClickException(f"cannot reach the broker at {broker} ({exc})") from exc
    except KafkaError as exc:
        raise click.ClickException(f"the broker at {broker} failed: {exc}") from exc


def _run(main: Coroutine[Any, Any, T]) -> T:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A shell's background job: Faust's worker stopped these commands on SIGINT
        # there too, and scripts may rely on it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return asyncio.run(_cancelled_by_sigterm(main))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # asyncio.run cancels the command at the first Ctrl-C, then raises this.
        raise SystemExit(0) from None


async def _cancelled_by_sigterm(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await main
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
