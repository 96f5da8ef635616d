"""OpenTelemetry set-up for the mizzen processes.

Spans are created around every API request (apiserver/app.py) and every reconcile
(apimachinery/client/workqueue.py). They cost nothing until a tracer provider is installed
here: `OTEL_TRACES_EXPORTER=console` prints finished spans to stderr, and
`OTEL_TRACES_EXPORTER=otlp` sends them to an OTLP collector when the
opentelemetry-exporter-otlp package is installed (`OTEL_EXPORTER_OTLP_ENDPOINT`)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def setup_tracing(service_name: str) -> bool:
    """Install the SDK tracer provider when OTEL_TRACES_EXPORTER asks for one."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "none").lower()
    if exporter_name in ("", "none"):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
        except ImportError:
            log.warning("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp; tracing stays off")
            return False
        exporter = OTLPSpanExporter()
    else:
        log.warning("unknown OTEL_TRACES_EXPORTER %r; tracing stays off", exporter_name)
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True
