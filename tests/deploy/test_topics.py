"""Topic management: the pure plan and comparison, then `streamrouter topics` on tansu."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import UnsupportedVersionError

from streamrouter.admin import (
    TopicAdmin,
    TopicReport,
    TopicSettings,
    TopicSpec,
    TopicState,
    compare_topic,
    faust_topics,
    faust_topics_for,
    format_reports,
    plan_topics,
)
from streamrouter.config import Policy, Settings, TierPolicy
from streamrouter.embedded.broker import embedded_broker
from streamrouter.embedded.process import ManagedProcess, free_port
from tests.deploy.dockerfile import healthcheck_command

# --- the plan and the comparison (pure) ------------------------------------------------


def test_the_plan_names_every_topic_with_partitions_replication_and_retention() -> None:
    policy = Policy(
        tiers=(TierPolicy(name="small", model="m1"), TierPolicy(name="large", model="m2")),
        task_map={},
    )
    settings = Settings(topic_prefix="p.", partitions=6)
    topic_settings = TopicSettings(
        replication_factor=3, results_retention_ms=86_400_000, dlq_retention_ms=-1
    )
    changelog = TopicSpec("app-ledger-changelog", 6, 3, {"cleanup.policy": "compact"}, "faust")

    specs = plan_topics(settings, policy, topic_settings, [changelog])

    assert [s.name for s in specs] == [
        "p.requests",
        "p.route.budget",
        "p.route.classify",
        "p.tier.small",
        "p.tier.large",
        "p.orchestrate.plan",
        "p.orchestrate.fanin",
        "p.orchestrate.synthesize",
        "p.completions",
        "p.spend",
        "p.results",
        "p.dlq",
        "p.feedback",
        "app-ledger-changelog",
    ]
    assert {(s.partitions, s.replication_factor) for s in specs} == {(6, 3)}
    configs = {s.name: dict(s.configs) for s in specs}
    assert configs["p.results"] == {"retention.ms": "86400000"}
    assert configs["p.feedback"] == {"retention.ms": "86400000"}  # kept as long as results
    assert configs["p.dlq"] == {"retention.ms": "-1"}
    assert configs["p.requests"] == {}


def test_faust_s_topics_are_named_without_building_the_app() -> None:
    """What `topics` plans (no app: the command does not import the worker's stack) is
    what the worker's app declares."""
    from streamrouter.app import create_app
    from streamrouter.llm.pricing import PriceTable

    settings = Settings(app_id="named", partitions=3)
    app = create_app(settings, Policy(), PriceTable.default())
    assert faust_topics_for(settings, 2) == faust_topics(app, 2)
    assert {s.name for s in faust_topics_for(settings, 2)} >= {
        "named-ledger-changelog",
        "named-__assignor-__leader",
    }


def test_topic_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMROUTER_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("STREAMROUTER_RESULTS_RETENTION_MS", "604800000")
    monkeypatch.setenv("STREAMROUTER_DLQ_RETENTION_MS", "")
    assert TopicSettings() == TopicSettings(replication_factor=3, results_retention_ms=604800000)


SPEC = TopicSpec("llm.results", 4, 3, {"retention.ms": "1000"})


@pytest.mark.parametrize(
    ("state", "status", "errors", "warnings"),
    [
        (None, "missing", ["missing"], []),
        (TopicState("llm.results", 4, 3, {"retention.ms": "1000"}), "ok", [], []),
        (TopicState("llm.results", 8, 3, {}), "wrong", ["has 8 partitions, needs 4"], []),
        (
            TopicState("llm.results", 4, 1, {"retention.ms": "5"}),
            "ok",
            [],
            [
                "replication factor 1, STREAMROUTER_REPLICATION_FACTOR is 3",
                "retention.ms=5, configured 1000 (alter it with kafka-configs)",
            ],
        ),
        (
            TopicState("llm.results", 4, 3, None),
            "ok",
            [],
            ["the broker did not describe its configs: retention.ms=1000"],
        ),
    ],
)
def test_compare_topic(
    state: TopicState | None, status: str, errors: list[str], warnings: list[str]
) -> None:
    report = compare_topic(SPEC, state)
    assert (report.status, list(report.errors), list(report.warnings)) == (
        status,
        errors,
        warnings,
    )
    assert report.ok == (not errors)


def test_the_report_is_a_table_then_the_problems() -> None:
    reports = [
        TopicReport(SPEC, TopicState("llm.results", 4, 3), created=True),
        compare_topic(TopicSpec("llm.dlq", 4, 3), TopicState("llm.dlq", 2, 3)),
        compare_topic(TopicSpec("llm.requests", 4, 3), None),
    ]
    lines = format_reports(reports).splitlines()
    assert lines[0].split() == ["topic", "partitions", "replication", "owner", "status"]
    assert lines[1].split() == ["llm.results", "4", "3", "service", "created"]
    assert lines[2].split() == ["llm.dlq", "2", "(want", "4)", "3", "service", "wrong"]
    assert lines[3].split() == [
        "llm.requests",
        "-",
        "(want",
        "4)",
        "-",
        "(want",
        "3)",
        "service",
        "missing",
    ]
    assert "error: llm.dlq: has 2 partitions, needs 4" in lines
    assert lines[-1] == "1 of 3 topics ok; 2 missing or wrong"


# --- against the embedded broker ----------------------------------------------------------


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    process, url = embedded_broker()
    with process:
        process.start(30)
        yield url


def streamrouter(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    # As in the chart's topics job: no API key, only the Kafka and topic settings.
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "STREAMROUTER_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "streamrouter", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def table(stdout: str) -> dict[str, list[str]]:
    """topic -> the other columns of the command's table."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) > 2 and cells[-2] in ("service", "faust"):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.e2e
def test_topics_create_makes_what_topics_check_confirms(broker_url: str, tmp_path: Path) -> None:
    env = {
        "STREAMROUTER_BROKER": broker_url,
        "STREAMROUTER_APP_ID": "topics-test",
        "STREAMROUTER_TOPIC_PREFIX": "tt.",
        "STREAMROUTER_PARTITIONS": "3",
        "STREAMROUTER_RESULTS_RETENTION_MS": "86400000",
        "STREAMROUTER_DLQ_RETENTION_MS": "2592000000",
    }
    service_topics = [
        "tt.requests",
        "tt.route.budget",
        "tt.route.classify",
        "tt.tier.haiku",
        "tt.tier.sonnet",
        "tt.tier.opus",
        "tt.orchestrate.plan",
        "tt.orchestrate.fanin",
        "tt.orchestrate.synthesize",
        "tt.completions",
        "tt.spend",
        "tt.results",
        "tt.dlq",
        "tt.feedback",
    ]
    # Faust's: every table's changelog (the ledger's at least) and the leader topic.
    faust_topics = {"topics-test-ledger-changelog", "topics-test-__assignor-__leader"}

    created = streamrouter("topics", "create", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    rows = table(created.stdout)
    assert [name for name, row in rows.items() if row[-2] == "service"] == service_topics
    faust_rows = {name for name, row in rows.items() if row[-2] == "faust"}
    assert faust_topics <= faust_rows
    assert all(name.endswith("-changelog") for name in faust_rows - faust_topics)
    assert all(row[-1] == "created" for row in rows.values())
    assert rows["tt.requests"][:2] == ["3", "1"]
    assert rows["topics-test-ledger-changelog"][:2] == ["3", "1"]
    assert rows["topics-test-__assignor-__leader"][:2] == ["1", "1"]

    again = streamrouter("topics", "create", env=env)  # idempotent: checks, creates nothing
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(row[-1] == "ok" for row in table(again.stdout).values())

    checked = streamrouter("topics", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all(row[-1] == "ok" for row in table(checked.stdout).values())
    assert "warning" not in checked.stdout  # retention and compaction are as configured
    assert checked.stdout.splitlines()[-1] == f"{len(rows)} of {len(rows)} topics ok"

    # As a worker does: the existing requests topic's count is adopted, not refused.
    adopted = streamrouter("topics", "check", env={**env, "STREAMROUTER_PARTITIONS": "4"})
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    assert "tt.requests has 3 partitions (STREAMROUTER_PARTITIONS=4" in adopted.stdout

    asyncio.run(_create(broker_url, [TopicSpec("tw.requests", 3, 1), TopicSpec("tw.spend", 2, 1)]))
    wrong = streamrouter("topics", "create", env={**env, "STREAMROUTER_TOPIC_PREFIX": "tw."})
    assert wrong.returncode == 1
    assert "error: tw.spend: has 2 partitions, needs 3" in wrong.stdout
    assert "Kafka cannot shrink a topic" in wrong.stdout

    states = asyncio.run(_describe(broker_url, list(rows)))
    assert states["tt.results"].configs is not None
    assert states["tt.results"].configs["retention.ms"] == "86400000"
    assert states["tt.dlq"].configs["retention.ms"] == "2592000000"
    assert states["topics-test-ledger-changelog"].configs["cleanup.policy"] == "compact"


async def _create(broker_url: str, specs: list[TopicSpec]) -> None:
    async with TopicAdmin(broker_url) as admin:
        await admin.create(specs)


async def _describe(broker_url: str, names: list[str]) -> dict[str, TopicState]:
    async with TopicAdmin(broker_url) as admin:
        return await admin.describe(names)


@pytest.mark.e2e
async def test_a_broker_that_cannot_describe_configs_still_gets_checked(
    broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with TopicAdmin(broker_url) as admin:
        await admin.create([TopicSpec("noconfigs", 2, 1, {"retention.ms": "1000"})])

        async def unsupported(*args: object, **kwargs: object) -> None:
            raise UnsupportedVersionError("DescribeConfigs")

        monkeypatch.setattr(admin._client, "describe_configs", unsupported)
        (state,) = (await admin.describe(["noconfigs"])).values()
    assert (state.partitions, state.configs) == (2, None)
    report = compare_topic(TopicSpec("noconfigs", 2, 1, {"retention.ms": "1000"}), state)
    assert report.ok and report.warnings


@pytest.mark.e2e
def test_an_unreachable_broker_fails_after_the_wait() -> None:
    done = streamrouter(
        "topics",
        "check",
        "--wait",
        "1",
        env={"STREAMROUTER_BROKER": f"kafka://127.0.0.1:{free_port()}"},
    )
    assert done.returncode == 1
    assert "KafkaConnectionError" in done.stdout


@pytest.mark.e2e
def test_a_worker_runs_on_the_created_topics_and_passes_the_image_healthcheck(
    broker_url: str, tmp_path: Path
) -> None:
    """What the chart's hook does before the workers start: topics first, then a worker
    that finds them (Faust's changelog included) and answers the image's HEALTHCHECK."""
    web_port = str(free_port())
    env = {
        "STREAMROUTER_BROKER": broker_url,
        "STREAMROUTER_APP_ID": "hook-test",
        "STREAMROUTER_TOPIC_PREFIX": "hook.",
        "STREAMROUTER_PARTITIONS": "2",
        "STREAMROUTER_WEB_PORT": web_port,
        "STREAMROUTER_DATA_DIR": str(tmp_path / "data"),
        "STREAMROUTER_KAFKA_SESSION_TIMEOUT_S": "6",
        "STREAMROUTER_KAFKA_REBALANCE_TIMEOUT_S": "6",
        "STREAMROUTER_KAFKA_HEARTBEAT_S": "1",
        "ANTHROPIC_API_KEY": "sk-test-no-calls-made",
    }
    created = streamrouter("topics", "create", env=env)
    assert created.returncode == 0, created.stdout + created.stderr

    healthcheck = healthcheck_command()
    with ManagedProcess(
        "worker",
        [sys.executable, "-m", "streamrouter", "worker", "--loglevel", "info"],
        ready=r"\[\^Worker\]: Ready",
        env=env,
    ) as worker:
        worker.start(timeout=90)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=5) as r:
            assert r.status == 200
        check = subprocess.run(
            [sys.executable, *healthcheck[1:]],  # the image's `python` is its venv's
            env={**os.environ, "STREAMROUTER_WEB_PORT": web_port},
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stderr
    after = subprocess.run(
        [sys.executable, *healthcheck[1:]],
        env={**os.environ, "STREAMROUTER_WEB_PORT": web_port},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert after.returncode != 0  # a stopped worker fails the check

    checked = streamrouter("topics", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
