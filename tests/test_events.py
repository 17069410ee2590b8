from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from streamrouter.events import (
    Attempt,
    DeadLetter,
    LLMRequest,
    LLMResult,
    Message,
    Route,
    WorkItem,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _request(**fields: object) -> LLMRequest:
    return LLMRequest.model_validate({"request_id": "r-1", **fields})


def test_request_defaults() -> None:
    request = _request()
    assert request.tenant == "default"
    assert request.mode == "route"
    assert request.max_tokens == 1024
    assert request.messages == []
    assert request.metadata == {}
    assert request.task_type is request.tier is request.system is request.created_at is None


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], ""),
        ([{"role": "assistant", "content": "hello"}], ""),
        ([{"role": "user", "content": "a"}], "a"),
        (
            [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": "second"},
                {"role": "assistant", "content": "prefill"},
            ],
            "second",
        ),
    ],
)
def test_last_user_text(messages: list[dict[str, str]], expected: str) -> None:
    assert _request(messages=messages).last_user_text == expected


@pytest.mark.parametrize(
    ("system", "messages", "expected"),
    [
        (None, [], 0),
        ("sys", [], 3),
        ("sys", [{"role": "user", "content": "abcd"}, {"role": "assistant", "content": "é"}], 8),
    ],
)
def test_prompt_chars(system: str | None, messages: list[dict[str, str]], expected: int) -> None:
    assert _request(system=system, messages=messages).prompt_chars == expected


def test_work_item_total_cost_sums_attempts() -> None:
    attempts = [
        Attempt(tier="haiku", model="h", outcome="classified", cost_usd=0.25),
        Attempt(tier="haiku", model="h", outcome="escalated", cost_usd=0.5),
        Attempt(tier="sonnet", model="s", outcome="answered", cost_usd=1.0),
    ]
    item = WorkItem(request=_request(), attempts=attempts, received_at=NOW)
    assert item.total_cost_usd == pytest.approx(1.75)
    assert WorkItem(request=_request(), received_at=NOW).total_cost_usd == 0


def test_models_are_frozen() -> None:
    request = _request(messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ValidationError):
        request.tenant = "other"  # type: ignore[misc]


def test_defaults_are_not_shared() -> None:
    assert _request().messages is not _request().messages
    assert _request().metadata is not _request().metadata


@pytest.mark.parametrize(
    "value",
    [
        NOW,
        NOW.replace(tzinfo=None),  # naive means UTC
        NOW.astimezone(timezone(timedelta(hours=2))),
        int(NOW.timestamp() * 1000),  # epoch millis, never seconds
        float(NOW.timestamp() * 1000),
        "2026-03-01T12:00:00Z",
        "2026-03-01T14:00:00+02:00",
        "2026-03-01T12:00:00",
    ],
)
def test_timestamps_normalise_to_utc(value: object) -> None:
    created_at = _request(created_at=value).created_at
    assert created_at == NOW
    assert created_at is not None and created_at.tzinfo is UTC


def test_timestamps_truncate_to_millis() -> None:
    created_at = _request(created_at=NOW.replace(microsecond=123_999)).created_at
    assert created_at == NOW.replace(microsecond=123_000)


def test_small_epoch_millis_are_not_read_as_seconds() -> None:
    assert _request(created_at=1500).created_at == datetime(1970, 1, 1, 0, 0, 1, 500_000, UTC)


@pytest.mark.parametrize("value", ["yesterday", float("inf"), 10**20, True])
def test_bad_timestamps_are_validation_errors(value: object) -> None:
    with pytest.raises(ValidationError):
        _request(created_at=value)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (LLMRequest, {"request_id": ""}),
        (LLMRequest, {"request_id": "r", "max_tokens": 0}),
        (LLMRequest, {"request_id": "r", "max_tokens": 2**31}),
        (LLMRequest, {"request_id": "r", "messages": [{"role": "system", "content": "x"}]}),
        (Message, {"role": "user"}),
        (Route, {"strategy": "random"}),
        (Attempt, {"tier": "haiku", "model": "m", "outcome": "answered", "input_tokens": -1}),
        (
            DeadLetter,
            {
                "value": b"",
                "topic": "t",
                "partition": 0,
                "offset": 2**63,
                "error_type": "e",
                "error_message": "m",
                "failed_at": NOW,
            },
        ),
        (LLMResult, {"request_id": "r", "tenant": "t", "status": "maybe", "completed_at": NOW}),
    ],
)
def test_contract_violations_are_rejected(model: type, fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(fields)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert _request(added_in_v2="x") == _request()
