"""One trace per request across every hop; metrics that move as the run dictates."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamrouter.client import StreamClient
from streamrouter.embedded.stack import EmbeddedStack
from tests.support.otlp import OtlpReceiver, ReceivedSpan

from .conftest import RESULT_TIMEOUT_S, new_request

pytestmark = pytest.mark.e2e

PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"


def chain_to_root(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in spans}
    chain = [span]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return chain[::-1]


async def test_one_trace_follows_a_request_through_every_hop(
    client: StreamClient, otlp: OtlpReceiver
) -> None:
    request = new_request("E2E-DEEP", tier="haiku")
    rid = request.request_id
    traceparent = f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"
    await client.send(request, headers={"traceparent": traceparent.encode()})

    found = await client.wait_for_results([rid], RESULT_TIMEOUT_S)
    result = found[rid][0]

    def published_result(spans: list[ReceivedSpan]) -> bool:
        return any(
            s.name == "publish llm.results"
            and s.attributes.get("messaging.kafka.message.key") == rid
            for s in spans
        )

    spans = await asyncio.to_thread(otlp.wait_for, published_result)
    mine = [s for s in spans if s.trace_id == PRODUCER_TRACE]
    keyed = [s for s in spans if s.attributes.get("messaging.kafka.message.key") == rid]

    assert result.trace_id == PRODUCER_TRACE
    assert keyed and {s.trace_id for s in keyed} == {PRODUCER_TRACE}
    last = next(s for s in mine if s.name == "publish llm.results")
    path = chain_to_root(last, mine)
    assert path[0].parent_span_id == PRODUCER_SPAN
    assert [s.name for s in path] == [
        "process llm.requests",
        "publish llm.tier.haiku",
        "process llm.tier.haiku",
        "publish llm.tier.sonnet",
        "process llm.tier.sonnet",
        "publish llm.tier.opus",
        "process llm.tier.opus",
        "publish llm.completions",
        "process llm.completions",
        "publish llm.results",
    ]
    chats = [s for s in mine if s.name.startswith("chat ")]
    assert [s.attributes["gen_ai.request.model"] for s in chats] == [
        "claude-haiku-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-7",
    ]
    by_id = {s.span_id: s for s in mine}
    for chat, tier in zip(chats, ("haiku", "sonnet", "opus"), strict=True):
        assert by_id[chat.parent_span_id].name == f"process llm.tier.{tier}"
        assert chat.attributes["gen_ai.provider.name"] == "anthropic"
        assert chat.attributes["gen_ai.response.model"] == chat.attributes["gen_ai.request.model"]
        assert chat.attributes["gen_ai.usage.input_tokens"] > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        assert chat.attributes["streamrouter.cost_usd"] > 0
        assert 0 <= chat.attributes["streamrouter.confidence"] <= 1
    escalating = [s for s in mine if "escalation" in s.events]
    assert [s.name for s in escalating] == ["process llm.tier.haiku", "process llm.tier.sonnet"]
    route = next(s for s in mine if s.name == "route")
    assert route.attributes["streamrouter.route.strategy"] == "pinned"
    assert route.attributes["streamrouter.policy.version"] == "built-in"  # no policy file
    assert all(request.messages[0].content not in str(s.attributes) for s in mine)


def scrape(stack: EmbeddedStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = f"http://127.0.0.1:{stack.web_ports[0]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: dict, after: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_move_as_the_run_dictates(stack: EmbeddedStack, client: StreamClient) -> None:
    before = scrape(stack)
    commits = [new_request("E2E-COMMIT", task_type="commit_message") for _ in range(2)]
    escalated = new_request("E2E-ESCALATE", task_type="summarize")
    for request in [*commits, escalated]:
        await client.send(request)
    garbage_key = f"garbage-{escalated.request_id}"
    await client.send_raw(garbage_key.encode(), b"\x00garbage")
    ids = [r.request_id for r in [*commits, escalated]]
    found = await client.wait_for_results(ids, RESULT_TIMEOUT_S)

    async def dead_letter_seen() -> None:
        async for letter in client.dead_letters():
            if letter.key == garbage_key.encode():
                return

    await asyncio.wait_for(dead_letter_seen(), RESULT_TIMEOUT_S)
    after = scrape(stack)

    requests = "streamrouter_requests_total"
    assert delta(before, after, requests, strategy="task_map", tier="haiku", status="ok") == 2
    assert delta(before, after, requests, strategy="task_map", tier="sonnet", status="ok") == 1
    calls = "streamrouter_model_calls_total"
    assert delta(before, after, calls, model="claude-haiku-4-5", outcome="answered") == 2
    assert delta(before, after, calls, model="claude-haiku-4-5", outcome="escalated") == 1
    assert delta(before, after, calls, model="claude-sonnet-4-6", outcome="answered") == 1
    escalations = "streamrouter_escalations_total"
    assert delta(before, after, escalations, from_tier="haiku", to_tier="sonnet") == 1
    assert delta(before, after, "streamrouter_dead_letters_total", reason="undecodable") == 1
    cost = sum(
        delta(before, after, "streamrouter_cost_usd_total", model=model, tenant="default")
        for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7")
    )
    assert cost == pytest.approx(sum(found[rid][0].total_cost_usd for rid in ids))
    tokens = sum(
        a.input_tokens for rid in ids for a in found[rid][0].attempts if "haiku" in a.model
    )
    assert (
        delta(before, after, "streamrouter_tokens_total", model="claude-haiku-4-5", kind="input")
        == tokens
    )
    latency = "streamrouter_request_seconds_count"
    assert delta(before, after, latency, strategy="task_map") == 3
