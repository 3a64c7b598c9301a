"""The demo's ``/metrics``: its telemetry's metrics as Prometheus text (extra ``[prometheus]``).

The demo keeps its own ``MeterProvider`` with the OpenTelemetry Prometheus exporter reading into
a registry of its own (no process-global registry), so two apps in one process don't mix.
Traces go to OpenTelemetry's global tracer provider (a no-op unless the app configured one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._extras import install_hint
from ..telemetry import Telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

__all__ = ["DemoMetrics", "demo_metrics"]

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class DemoMetrics:
    """The demo's telemetry and how to render its metrics (``None`` render: not installed)."""

    telemetry: Telemetry | None
    render: Callable[[], bytes] | None
    provider: MeterProvider | None = None

    async def endpoint(self, request: Request) -> Response:
        if self.render is None:
            return JSONResponse(
                {
                    "error": {
                        "code": "missing-extra",
                        "message": "/metrics needs the Prometheus exporter; install it with: "
                        + install_hint("prometheus"),
                    }
                },
                status_code=501,
            )
        return Response(self.render(), media_type=_CONTENT_TYPE)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def demo_metrics(agent_name: str = "demo") -> DemoMetrics:
    """Telemetry whose metrics ``/metrics`` serves, or a stub naming the extra to install."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry, generate_latest
    except ImportError:
        telemetry = Telemetry(agent_name=agent_name)  # traces only, if OpenTelemetry is there
        return DemoMetrics(telemetry if telemetry.is_enabled else None, None)
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    telemetry = Telemetry(meter_provider=provider, agent_name=agent_name)
    return DemoMetrics(telemetry, lambda: generate_latest(registry), provider)
