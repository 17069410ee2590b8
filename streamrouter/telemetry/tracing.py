"""One trace per request, across every Kafka hop and model call.

The W3C ``traceparent``/``tracestate`` of the current span travel in the headers of
every event the service emits; each agent continues the trace from the headers of the
event it consumes. A producer that sends its own ``traceparent`` sees the whole path
inside its trace.

Export is configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables (protocol
``http/protobuf`` by default, or ``grpc``). Without an endpoint no provider is
installed: the API's no-op tracer still carries an incoming context through, and
costs next to nothing.

Span names and attributes follow the messaging and GenAI semantic conventions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from streamrouter.errors import ConfigError

__all__ = [
    "configure_tracing",
    "consume_span",
    "current_trace_id",
    "current_traceparent",
    "model_call_span",
    "publish_span",
    "record_event",
    "route_span",
    "shutdown_tracing",
    "within",
]

TRACER_NAME = "streamrouter"


def configure_tracing(default_service_name: str = "streamrouter") -> bool:
    """Install an OTLP-exporting tracer provider if an endpoint is configured."""
    endpoint = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = (
        _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    else:
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use grpc or http/protobuf")
    service = _env("OTEL_SERVICE_NAME") or default_service_name
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporter (if one was configured)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


def _tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


@contextmanager
def consume_span(
    topic: str, partition: int, offset: int, key: bytes | None, headers: Mapping[str, bytes]
) -> Iterator[Span]:
    """The span of processing one consumed event, continuing the trace in its headers."""
    parent = propagate.extract(_text_headers(headers))
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode(errors="replace")
    with _tracer().start_as_current_span(
        f"process {topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def publish_span(topic: str, key: bytes | None) -> Iterator[dict[str, bytes]]:
    """A producer span; yields the headers that carry it to the consumer."""
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": topic,
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode(errors="replace")
    with _tracer().start_as_current_span(
        f"publish {topic}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield {name: value.encode() for name, value in carrier.items()}


@contextmanager
def model_call_span(model: str, max_tokens: int) -> Iterator[Span]:
    """A GenAI client span for one Messages API call."""
    attributes: dict[str, Any] = {
        "gen_ai.system": "anthropic",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
    }
    with _tracer().start_as_current_span(
        f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def route_span(attributes: Mapping[str, Any]) -> None:
    """A short span that records a routing decision."""
    with _tracer().start_as_current_span("route", attributes=dict(attributes)):
        pass


def record_event(name: str, attributes: Mapping[str, Any], error: bool = False) -> None:
    """An event (escalation, fallback, dead letter) on the current span."""
    span = trace.get_current_span()
    span.add_event(name, dict(attributes))
    if error:
        span.set_status(Status(StatusCode.ERROR, str(attributes.get("error.type", name))))


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def within(traceparent: str | None) -> Iterator[None]:
    """Continue the trace of a stored ``traceparent`` (outside any consumed event)."""
    if traceparent is None:
        yield
        return
    token = context.attach(propagate.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _text_headers(headers: Mapping[str, bytes]) -> dict[str, str]:
    return {
        name: value.decode(errors="replace")
        for name, value in headers.items()
        if isinstance(value, bytes)
    }
