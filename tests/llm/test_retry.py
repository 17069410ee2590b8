from __future__ import annotations

import pytest

from streamrouter.llm.retry import (
    Failure,
    RetryPolicy,
    backoff_s,
    is_retryable,
    retry_after_s,
    retry_delay,
)

TIMEOUT = Failure("timeout")
CONNECTION = Failure("connection")


def response(status: int, **headers: str) -> Failure:
    return Failure("response", status, {k.replace("_", "-"): v for k, v in headers.items()})


def delay(
    failure: Failure, retries_taken: int = 0, time_left_s: float = 90.0, jitter: float = 0.0
) -> float | None:
    return retry_delay(
        failure,
        retries_taken=retries_taken,
        max_retries=2,
        time_left_s=time_left_s,
        jitter=jitter,
    )


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        pytest.param(TIMEOUT, False, id="timeout: the next model at once"),
        pytest.param(CONNECTION, True, id="connection error"),
        pytest.param(response(429), True, id="429"),
        pytest.param(response(529), True, id="529"),
        pytest.param(response(500), True, id="500"),
        pytest.param(response(503), True, id="503"),
        pytest.param(response(408), True, id="408"),
        pytest.param(response(409), True, id="409"),
        pytest.param(response(400), False, id="400"),
        pytest.param(response(401), False, id="401"),
        pytest.param(response(404), False, id="404"),
        pytest.param(response(500, x_should_retry="false"), False, id="500, server says no"),
        pytest.param(response(400, x_should_retry="true"), True, id="400, server says yes"),
        pytest.param(response(429, x_should_retry="maybe"), True, id="429, header unreadable"),
        pytest.param(Failure("response"), False, id="an answer that is not a message"),
    ],
)
def test_is_retryable(failure: Failure, retryable: bool) -> None:
    assert is_retryable(failure) is retryable


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.2"}, 0.2),
        ({"retry-after-ms": "150"}, 0.15),
        ({"retry-after-ms": "150", "retry-after": "3"}, 0.15),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
    ],
)
def test_retry_after_s(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_s(headers) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("retries_taken", "jitter", "seconds"),
    [
        (0, 0.0, 0.5),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (4, 0.0, 8.0),
        (10, 0.0, 8.0),  # capped
        (0, 0.999, 0.5 * (1 - 0.25 * 0.999)),  # jitter takes off up to a quarter
        (10, 0.5, 8.0 * 0.875),
    ],
)
def test_backoff_s(retries_taken: int, jitter: float, seconds: float) -> None:
    assert backoff_s(retries_taken, jitter) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("failure", "retries_taken", "time_left_s", "seconds"),
    [
        pytest.param(response(529, retry_after="0.2"), 0, 90, 0.2, id="529 waits retry-after"),
        pytest.param(response(429, retry_after="5"), 1, 90, 5.0, id="429 waits retry-after"),
        pytest.param(response(429, retry_after_ms="40"), 0, 90, 0.04, id="retry-after-ms"),
        pytest.param(response(500), 0, 90, 0.5, id="500: backoff 0.5 s"),
        pytest.param(response(500), 1, 90, 1.0, id="500: backoff doubles"),
        pytest.param(response(529, retry_after="0"), 1, 90, 1.0, id="retry-after 0: backoff"),
        pytest.param(response(529, retry_after="-3"), 0, 90, 0.5, id="retry-after < 0: backoff"),
        pytest.param(CONNECTION, 0, 90, 0.5, id="connection error: backoff"),
        pytest.param(response(500), 2, 90, None, id="retries used up"),
        pytest.param(TIMEOUT, 0, 90, None, id="timeout: never on the same model"),
        pytest.param(response(400), 0, 90, None, id="400: not worth repeating"),
        pytest.param(response(429, retry_after="30"), 0, 20, None, id="wait past the budget"),
        pytest.param(response(429, retry_after="2"), 0, 2.0, None, id="wait ends at the budget"),
        pytest.param(response(429, retry_after="2"), 0, 2.01, 2.0, id="wait ends just before"),
        pytest.param(response(500), 0, 0.4, None, id="backoff past the budget"),
        pytest.param(response(500), 0, 0.0, None, id="no time left"),
    ],
)
def test_retry_delay(
    failure: Failure, retries_taken: int, time_left_s: float, seconds: float | None
) -> None:
    assert delay(failure, retries_taken, time_left_s) == pytest.approx(seconds)


def test_retry_delay_jitters_the_backoff_not_retry_after() -> None:
    assert delay(response(500), jitter=0.8) == pytest.approx(0.5 * 0.8)
    assert delay(response(429, retry_after="1"), jitter=0.8) == pytest.approx(1.0)


def test_no_retries_when_max_retries_is_zero() -> None:
    failure = response(529, retry_after="0.1")
    assert retry_delay(failure, retries_taken=0, max_retries=0, time_left_s=90, jitter=0) is None


@pytest.mark.parametrize(
    ("time_left_s", "timeout_s"),
    [(90.0, 60.0), (60.0, 60.0), (30.0, 30.0), (0.25, 0.25), (0.0, 0.0), (-1.0, 0.0)],
)
def test_an_attempt_never_outlasts_the_budget(time_left_s: float, timeout_s: float) -> None:
    policy = RetryPolicy(max_retries=2, attempt_timeout_s=60.0, budget_s=90.0)
    assert policy.attempt_timeout(time_left_s) == timeout_s
