"""The `streamrouter` command as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from streamrouter.embedded.process import ManagedProcess
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import against, streamrouter

pytestmark = pytest.mark.e2e


def test_dev_runs_the_demo_and_prints_the_table() -> None:
    done = subprocess.run(
        streamrouter("dev"), capture_output=True, text=True, timeout=240, check=False
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("request "))
    for column in ("route", "tiers tried", "final model", "fallback", "tokens", "cost $"):
        assert column in header
    rows = {line.split("  ")[0]: line for line in lines}
    assert "haiku->sonnet->opus" in rows["escalation x2"]
    assert "error: models_exhausted" in rows["all models down"]
    assert any(line.startswith("total cost $") for line in lines)
    assert any(line.startswith("dead letter: undecodable") for line in lines)


def test_send_waits_for_the_result_and_tail_prints_it(stack: EmbeddedStack) -> None:
    env = {**os.environ, "STREAMROUTER_BROKER": stack.broker_url}
    sent = subprocess.run(
        streamrouter(
            "send",
            "E2E-COMMIT from the cli",
            "--task-type",
            "commit_message",
            "--id",
            "cli-send-1",
            "--wait",
            "60",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    result = json.loads(sent.stdout.strip().splitlines()[-1])
    assert (result["request_id"], result["status"], result["tier"]) == ("cli-send-1", "ok", "haiku")

    with ManagedProcess(
        "tail",
        streamrouter("tail", "--from-beginning"),
        ready=r'"request_id": "cli-send-1"',
        env={"STREAMROUTER_BROKER": stack.broker_url},
    ) as tail:
        tail.start(timeout=60)


def test_send_without_wait_and_tail_stopped_by_the_first_ctrl_c(stack: EmbeddedStack) -> None:
    env = {**os.environ, "STREAMROUTER_BROKER": stack.broker_url}
    sent = subprocess.run(
        streamrouter("send", "E2E-COMMIT quick", "--task-type", "commit_message", "--id", "cli-2"),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == "sent cli-2 to llm.requests\n"

    with ManagedProcess(
        "tail",
        streamrouter("tail", "--from-beginning"),
        ready=r'"request_id": "cli-2"',
        env={"STREAMROUTER_BROKER": stack.broker_url},
    ) as tail:
        tail.start(timeout=60)
        assert tail.pid is not None
        interrupted = time.monotonic()
        os.kill(tail.pid, signal.SIGINT)
        code = tail.wait(timeout=30)
        stopped_after = time.monotonic() - interrupted
    assert code == 0
    assert stopped_after < 1.0  # the goal (about 0.05 s when measured)


def test_worker_without_api_key_fails_with_a_clear_message() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        streamrouter("worker"), capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 2
    assert "ANTHROPIC_API_KEY is not set" in done.stderr


async def test_report_json_matches_the_results_on_the_topic(stack: EmbeddedStack) -> None:
    from streamrouter.client import StreamClient
    from streamrouter.config import Topics
    from streamrouter.llm.pricing import PriceTable
    from streamrouter.report import cost_on_top_tier

    from .conftest import RESULT_TIMEOUT_S, new_request

    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as client:
        known = new_request("E2E-ESCALATE", task_type="summarize")
        await client.send(known)
        await client.wait_for_results([known.request_id], RESULT_TIMEOUT_S)
        results = await client.results_so_far()
    env = {**os.environ, "STREAMROUTER_BROKER": stack.broker_url}
    done = subprocess.run(
        streamrouter("report", "--json"),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    opus = PriceTable.default().price_for("claude-opus-4-7")
    assert report["cache_saving_usd"] >= 0
    assert report["requests"] == len(results)
    assert report["total_cost_usd"] == pytest.approx(sum(r.total_cost_usd for r in results))
    assert report["top_tier_cost_usd"] == pytest.approx(
        sum(cost_on_top_tier(r, opus) for r in results)
    )
    escalated = [r for r in results if r.escalated]
    by_route = {g["name"]: g for g in report["by_route"]}
    assert sum(g["requests"] for g in by_route.values()) == len(results)
    assert sum(g["escalation_rate"] * g["requests"] for g in by_route.values()) == pytest.approx(
        len(escalated)
    )


async def test_feedback_on_a_result_shows_in_the_report(stack: EmbeddedStack) -> None:
    from streamrouter.client import StreamClient
    from streamrouter.config import Topics

    from .conftest import RESULT_TIMEOUT_S, new_request

    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as client:
        rated = new_request("E2E-FEEDBACK", tier="sonnet")
        await client.send(rated)
        await client.wait_for_results([rated.request_id], RESULT_TIMEOUT_S)
    cli = against(stack)

    first = cli("feedback", rated.request_id, "good", "--comment", "right")
    assert first.returncode == 0, first.stderr
    assert cli("feedback", rated.request_id, "bad").returncode == 0  # the latest counts
    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as client:
        await client.send_raw(b"junk", b"not a verdict", topic=client.topics.feedback)
    done = cli("report", "--json")

    assert done.returncode == 0, done.stderr
    assert "records on llm.feedback are not Feedback: left out" in done.stderr
    pinned = next(g for g in json.loads(done.stdout)["by_route"] if g["name"] == "pinned")
    assert pinned["rated"] >= 1
    assert pinned["good_share"] < 1.0
    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as client:
        verdicts = [f for f in await client.feedback_so_far() if f.request_id == rated.request_id]
    assert [(f.label, f.comment) for f in verdicts] == [("good", "right"), ("bad", None)]


async def test_calibrate_from_feedback_writes_the_tier_threshold_the_ratings_allow(
    stack: EmbeddedStack, tmp_path: Path
) -> None:
    import yaml

    from streamrouter.client import StreamClient
    from streamrouter.config import Topics, load_policy

    from .conftest import RESULT_TIMEOUT_S, new_request

    requests = [new_request("E2E-COMMIT", task_type="commit_message") for _ in range(3)]
    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as client:
        for request in requests:
            await client.send(request)
        found = await client.wait_for_results([r.request_id for r in requests], RESULT_TIMEOUT_S)
    confidences = [found[r.request_id][0].attempts[-1].confidence for r in requests]
    assert all(found[r.request_id][0].tier == "haiku" for r in requests)
    cli = against(stack)

    for request, label in zip(requests, ("good", "good", "bad"), strict=True):
        assert cli("feedback", request.request_id, label).returncode == 0
    policy = tmp_path / "policy.yaml"
    calibrate = ("calibrate", "--from-feedback", "--tier", "haiku", "--policy", str(policy))

    unmet = cli(*calibrate, "--quality-floor", "0.9")
    assert unmet.returncode == 1 and "nothing written" in unmet.stderr
    assert not policy.exists()
    done = cli(*calibrate, "--quality-floor", "0.6")

    assert done.returncode == 0, done.stderr
    assert "of 3 rated final answers (66.7% good), 3 stay at haiku" in done.stdout
    tiers = {t["name"]: t for t in yaml.safe_load(policy.read_text())["tiers"]}
    assert tiers["haiku"]["threshold"] == pytest.approx(min(confidences), abs=1e-6)
    assert tiers["haiku"]["threshold"] <= min(confidences)  # the lowest kept answer stays
    assert set(tiers) == {"haiku", "sonnet", "opus"}
    assert load_policy(policy).tier("haiku").threshold == tiers["haiku"]["threshold"]
