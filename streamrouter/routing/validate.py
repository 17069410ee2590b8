"""The request contract beyond the schema: what makes a decoded request unservable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamrouter.errors import InvalidRequestError
from streamrouter.events import LLMRequest

__all__ = ["RequestLimits", "validate_request"]


@dataclass(frozen=True)
class RequestLimits:
    max_prompt_chars: int
    max_output_tokens: int
    # The whole event as it arrives; bigger ones are dead-lettered before decoding.
    max_event_bytes: int = 1_000_000
    max_request_id_chars: int = 256


def validate_request(request: LLMRequest, limits: RequestLimits, tiers: Sequence[str]) -> None:
    """Raise :class:`InvalidRequestError` naming the first broken rule."""
    rid = request.request_id
    if not rid.strip():
        raise InvalidRequestError("request_id is empty")
    if len(rid) > limits.max_request_id_chars:
        raise InvalidRequestError(
            f"request_id is {len(rid)} characters, over the limit of {limits.max_request_id_chars}"
        )
    if not rid.isprintable():
        raise InvalidRequestError("request_id contains control characters")
    if not request.messages:
        raise InvalidRequestError("messages is empty")
    for index, message in enumerate(request.messages):
        if not message.content.strip():
            raise InvalidRequestError(f"messages[{index}].content is empty")
    if request.messages[-1].role != "user":
        raise InvalidRequestError("the last message must come from the user")
    if request.prompt_chars > limits.max_prompt_chars:
        raise InvalidRequestError(
            f"prompt is {request.prompt_chars} characters, over the limit of "
            f"{limits.max_prompt_chars}"
        )
    if not 1 <= request.max_tokens <= limits.max_output_tokens:
        raise InvalidRequestError(
            f"max_tokens {request.max_tokens} is outside 1..{limits.max_output_tokens}"
        )
    if request.tier is not None and request.tier not in tiers:
        raise InvalidRequestError(f"unknown tier {request.tier!r}; tiers are {list(tiers)}")
