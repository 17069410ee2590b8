"""Tracing (OpenTelemetry, W3C context in Kafka headers) and Prometheus metrics."""
