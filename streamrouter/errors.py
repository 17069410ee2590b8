"""Every error streamrouter raises, and what the service does about it.

    StreamRouterError
    ├── ConfigError                 bad settings or policy: refuse to start
    ├── InvalidEventError           bad input: dead letter, keep running
    │   ├── UndecodableEventError   neither Avro single-object encoding nor JSON
    │   ├── UnknownSchemaError      Avro with a fingerprint we do not know
    │   └── InvalidRequestError     decoded, but breaks the request contract
    ├── ModelCallError              one model call failed after its retries: fall back
    │   ├── RateLimitedError        429
    │   ├── OverloadedError         529
    │   ├── ModelFailedError        5xx, connection error, 401/403/404: fall back
    │   │   └── ModelTimeoutError   no answer in time: not retried, the next model at once
    │   └── RequestRejectedError    400/413/422: the request itself is at fault, no fallback
    └── ModelsExhaustedError        every model in the chain failed, or the chain's time
                                    budget ran out (error type "timeout"): error result

Library errors (anthropic, fastavro, pydantic) are translated at the edge with
``raise ... from exc`` so callers only ever handle these.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InvalidEventError",
    "InvalidRequestError",
    "ModelCallError",
    "ModelFailedError",
    "ModelTimeoutError",
    "ModelsExhaustedError",
    "OverloadedError",
    "RateLimitedError",
    "RequestRejectedError",
    "StreamRouterError",
    "UndecodableEventError",
    "UnknownSchemaError",
]


class StreamRouterError(Exception):
    """Base of every streamrouter error. ``error_type`` is the stable name used in events."""

    error_type = "internal_error"


class ConfigError(StreamRouterError):
    error_type = "config_error"


class InvalidEventError(StreamRouterError):
    """The event goes to the dead-letter topic with this error's type and message."""

    error_type = "invalid_event"


class UndecodableEventError(InvalidEventError):
    error_type = "undecodable"


class UnknownSchemaError(InvalidEventError):
    error_type = "unknown_schema"


class InvalidRequestError(InvalidEventError):
    error_type = "invalid_request"


class ModelCallError(StreamRouterError):
    """A model call failed after its retries (``streamrouter.llm.retry``); the fallback
    chain moves on.

    ``outcome`` is the attempt outcome recorded in the result.
    """

    error_type = "model_error"
    outcome = "failed"

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class RateLimitedError(ModelCallError):
    error_type = "rate_limited"
    outcome = "rate_limited"


class OverloadedError(ModelCallError):
    error_type = "overloaded"
    outcome = "overloaded"


class ModelFailedError(ModelCallError):
    error_type = "model_failed"
    outcome = "failed"


class ModelTimeoutError(ModelFailedError):
    """No answer within the attempt's timeout (or what the time budget had left). Never
    retried on the same model: a silent model would hold the request for every try."""

    error_type = "timeout"
    outcome = "failed"


class RequestRejectedError(ModelCallError):
    """The API rejected the request as malformed: another model would too, and the model
    is not at fault, so there is no fallback and no cooldown; the request ends in an
    error result."""

    error_type = "request_rejected"
    outcome = "failed"


class ModelsExhaustedError(StreamRouterError):
    """No model in the chain could answer; the request ends in an error result."""

    error_type = "models_exhausted"
