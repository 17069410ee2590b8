"""The learned router trains, saves, loads and predicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrouter.events import Attempt, LLMResult
from streamrouter.routing.learned import LearnedRouter, LearnedRouterError, labels_from_history

EASY = [f"What is {i} plus {i + 1}?" for i in range(30)]
HARD = [
    f"Prove that the distributed consensus protocol {i} terminates under partition, "
    f"with a formal argument about quorum intersection and leader election round {i}."
    for i in range(30)
]


@pytest.fixture(scope="module")
def router() -> LearnedRouter:
    prompts = EASY + HARD
    return LearnedRouter.train(prompts, [True] * len(EASY) + [False] * len(HARD))


def test_scores_separate_the_two_kinds(router: LearnedRouter) -> None:
    easy = router.score(["What is 100 plus 101?"])[0]
    hard = router.score(["Prove that the consensus protocol 99 terminates under partition."])[0]
    assert 0 <= easy < 0.5 < hard <= 1
    assert not router.needs_strong("What is 7 plus 8?")
    assert router.needs_strong("Prove the leader election protocol terminates under partition.")


def test_save_and_load_round_trip(router: LearnedRouter, tmp_path: Path) -> None:
    path = tmp_path / "router.joblib"
    router.with_cutoff(0.3).save(path)
    loaded = LearnedRouter.load(path)
    assert loaded.cutoff == 0.3
    assert loaded.meta["examples"] == 60
    prompts = ["What is 5 plus 6?", HARD[0]]
    assert loaded.score(prompts) == pytest.approx(router.score(prompts))


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "junk.joblib"
    path.write_bytes(b"not a router")
    with pytest.raises(LearnedRouterError):
        LearnedRouter.load(path)
    with pytest.raises(LearnedRouterError):
        LearnedRouter.load(tmp_path / "missing.joblib")


def test_training_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="both outcomes"):
        LearnedRouter.train(EASY, [True] * len(EASY))


def result(request_id: str, *outcomes: tuple[str, str]) -> LLMResult:
    return LLMResult(
        request_id=request_id,
        tenant="default",
        status="ok",
        attempts=[Attempt(tier=tier, model="m", outcome=outcome) for tier, outcome in outcomes],
        completed_at=0,
    )


def test_labels_from_history() -> None:
    prompts = {"a": "kept", "b": "escalated", "c": "went to opus", "d": "unknown? no prompt"}
    results = [
        result("a", ("haiku", "answered")),
        result("b", ("haiku", "escalated"), ("opus", "answered")),
        result("c", ("opus", "answered")),
        result("x", ("haiku", "answered")),
    ]
    assert labels_from_history(prompts, results, "haiku") == (
        ["kept", "escalated"],
        [True, False],
    )


def test_a_saved_router_routes_requests_through_the_policy(
    router: LearnedRouter, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from streamrouter.agents.base import load_learned_router
    from streamrouter.config import load_policy
    from streamrouter.eval.calibration import write_learned_router
    from streamrouter.events import LLMRequest, Message, WorkItem
    from streamrouter.pipeline.route import route_request

    router.save(tmp_path / "router.joblib")
    policy_file = tmp_path / "policy.yaml"
    write_learned_router(policy_file, tmp_path / "router.joblib", 0.5)
    policy = load_policy(policy_file)
    learned = load_learned_router(policy)
    assert learned is not None and learned.cutoff == 0.5

    def routed_tier(text: str) -> str | None:
        request = LLMRequest(request_id="r", messages=[Message(role="user", content=text)])
        work = WorkItem(request=request, received_at=datetime.now(UTC))
        out = route_request(work, policy, spent=0.0, learned=learned)
        assert isinstance(out, WorkItem) and out.route is not None
        assert out.route.strategy == "learned"
        return out.tier

    assert routed_tier("What is 12 plus 13?") == "haiku"
    assert routed_tier("Prove that the consensus protocol 7 terminates under partition.") == "opus"
