"""``streamrouter send``, ``tail``, ``report`` and ``feedback``: the service's topics as a
user reads and writes them, through ``StreamClient``.

Bad input to ``send`` is one line and exit 2, before anything is sent: a request that
breaks the schema (``LLMRequest``: malformed JSON on stdin, a message whose content is a
list of blocks, ``--max-tokens 0``), and a ``--task-type`` or ``--tier`` the policy
(``STREAMROUTER_POLICY_FILE``) does not know, since the classifier would route such a
typo, or the worker dead-letter it, without a word to the sender. A JSON request on
stdin may name any task type, as any producer's may. A broker that cannot be reached,
no answer from it within ``--timeout``, and no result within ``--wait`` are one line and
exit 1.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from streamrouter.commands import BadInputError, option, run

if TYPE_CHECKING:
    from pydantic import ValidationError

    from streamrouter.config import Policy, Settings
    from streamrouter.events import LLMRequest, LLMResult

__all__ = [
    "check_options",
    "describe_validation_error",
    "feedback",
    "parse_since",
    "report",
    "send",
    "tail",
]


@click.command()
@click.argument("prompt", nargs=-1)
@option("--task-type", default=None, help="Task type (e.g. commit_message).")
@option("--tier", default=None, help="Pin a tier (skips routing).")
@option("--system", default=None, help="System prompt.")
@option("--tenant", default="default")
@option("--max-tokens", type=int, default=1024)
@option("--id", "request_id", default=None, help="Request id (default: a new UUID).")
@option("--wait", type=float, default=0, help="Wait up to N seconds for the result.")
@option(
    "--timeout",
    type=float,
    default=30.0,
    help="Seconds to reach the broker and publish before giving up.",
)
def send(
    prompt: tuple[str, ...],
    task_type: str | None,
    tier: str | None,
    system: str | None,
    tenant: str,
    max_tokens: int,
    request_id: str | None,
    wait: float,
    timeout: float,
) -> None:
    """Publish a request: the prompt as arguments, or a JSON request on stdin."""
    from streamrouter.config import load_service_config

    config = load_service_config()
    if prompt:
        check_options(config.policy, task_type, tier)
        request = _request_from_arguments(
            " ".join(prompt), request_id, tenant, task_type, tier, system, max_tokens
        )
    else:
        request = _request_from_stdin()
    settings = config.settings
    result = run(_send(settings, request, wait, timeout), broker=settings.broker)
    if result is not None:
        print(_json(result))


@click.command()
@option("--from-beginning", is_flag=True, help="Replay the whole result topic first.")
def tail(from_beginning: bool) -> None:
    """Print results (one JSON object a line) as they arrive, until Ctrl-C."""
    from streamrouter.config import load_settings

    settings = load_settings()
    run(_tail(settings, from_beginning), broker=settings.broker)


@click.command()
@option("--since", default=None, help="Only results completed since: 30m, 2h, 1d or ISO.")
@option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def report(since: str | None, as_json: bool) -> None:
    """Per route and final tier: requests, cost, latency, escalation and fallback rates.

    With the ratings of ``streamrouter feedback``: the answers rated, and the share rated
    good (each request's latest verdict)."""
    from streamrouter.client import StreamClient
    from streamrouter.config import load_service_config
    from streamrouter.report import format_report, summarize

    config = load_service_config()
    settings = config.settings
    moment = parse_since(since)
    client = StreamClient(settings.broker, settings.topics)
    results = run(client.results_so_far(), broker=settings.broker)
    feedback = run(client.feedback_so_far(), broker=settings.broker)
    top_model = config.policy.tiers[-1].model
    figures = summarize(results, config.prices, top_model, moment, feedback)
    print(json.dumps(figures.to_json(), indent=2) if as_json else format_report(figures))


@click.command()
@click.argument("request_id")
@click.argument("label", required=False, type=click.Choice(["good", "bad"]))
@option("--score", type=click.FloatRange(0, 1), default=None, help="0 (useless) to 1.")
@option("--comment", default=None, help="Free text kept with the verdict.")
@option("--source", type=click.Choice(["user", "judge"]), default="user")
def feedback(
    request_id: str, label: str | None, score: float | None, comment: str | None, source: str
) -> None:
    """Rate a request's result good or bad (or score it 0-1) on the feedback topic."""
    from pydantic import ValidationError

    from streamrouter.client import StreamClient
    from streamrouter.config import load_settings
    from streamrouter.events import Feedback

    try:
        verdict = Feedback(
            request_id=request_id,
            label=label,
            score=score,
            comment=comment,
            source=source,
            at=datetime.now(UTC),
        )
    except ValidationError as exc:
        raise BadInputError(describe_validation_error(exc)) from exc
    settings = load_settings()

    async def publish() -> None:
        async with StreamClient(settings.broker, settings.topics) as client:
            await client.send_feedback(verdict)

    run(publish(), broker=settings.broker)
    print(f"{request_id}: {label or score} ({source}) sent to {settings.topics.feedback}")


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


def check_options(policy: Policy, task_type: str | None, tier: str | None) -> None:
    """``BadInputError`` for a task type or tier that ``policy`` does not know."""
    from streamrouter.routing.task_map import normalize_task_type

    if task_type is not None:
        known = sorted({*policy.task_map, *policy.orchestrator.task_types})
        key = normalize_task_type(task_type)
        if key not in {normalize_task_type(name) for name in known}:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadInputError(
                f"unknown --task-type {task_type!r}{hint}; the policy's task types are "
                + ", ".join(known)
            )
    if tier is not None and tier not in policy.tier_names:
        raise BadInputError(
            f"unknown --tier {tier!r}; the policy's tiers are " + ", ".join(policy.tier_names)
        )


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's errors on one line: ``messages.0.content: Input should be a valid string``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def _request_from_arguments(
    text: str,
    request_id: str | None,
    tenant: str,
    task_type: str | None,
    tier: str | None,
    system: str | None,
    max_tokens: int,
) -> LLMRequest:
    from pydantic import ValidationError

    from streamrouter.events import LLMRequest, Message

    try:
        return LLMRequest(
            request_id=request_id or str(uuid.uuid4()),
            tenant=tenant,
            task_type=task_type,
            tier=tier,
            system=system,
            messages=[Message(role="user", content=text)],
            max_tokens=max_tokens,
        )
    except ValidationError as exc:
        raise BadInputError(f"invalid request: {describe_validation_error(exc)}") from exc


def _request_from_stdin() -> LLMRequest:
    from pydantic import ValidationError

    from streamrouter.events import LLMRequest

    if sys.stdin.isatty():
        raise BadInputError("give the prompt as arguments, or pipe a JSON request to stdin")
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        raise BadInputError("stdin is empty: give the prompt as arguments, or a JSON request")
    try:
        return LLMRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise BadInputError(
            f"the request on stdin is invalid: {describe_validation_error(exc)}"
        ) from exc


async def _send(
    settings: Settings, request: LLMRequest, wait: float, timeout: float
) -> LLMResult | None:
    """Publish ``request``; its first result if ``wait``."""
    from streamrouter.client import StreamClient

    client = StreamClient(settings.broker, settings.topics)
    try:
        try:
            async with asyncio.timeout(timeout):
                await client.start()
                await client.send(request)
        except TimeoutError as exc:
            raise click.ClickException(
                f"no answer from the broker at {settings.broker} within {timeout:g}s"
            ) from exc
        print(f"sent {request.request_id} to {settings.topics.requests}", flush=True)
        if not wait:
            return None
        try:
            found = await client.wait_for_results([request.request_id], wait)
        except TimeoutError as exc:
            raise click.ClickException(
                f"no result for {request.request_id} within {wait:g}s"
            ) from exc
        return found[request.request_id][0]
    finally:
        await client.stop()


async def _tail(settings: Settings, from_beginning: bool) -> None:
    from streamrouter.client import StreamClient

    client = StreamClient(settings.broker, settings.topics)
    async for result in client.results(from_beginning=from_beginning):
        print(_json(result), flush=True)


def _json(result: LLMResult) -> str:
    return json.dumps(result.model_dump(mode="json"))
