from __future__ import annotations

from shared.settings import ServiceSettings


class NurtureSettings(ServiceSettings):
    service_name: str = "nurture"
    http_port: int = 8004
    # Off the speed-to-lead path: fewer, larger batches and less idle polling than the
    # base 5 ms.
    consumer_batch_within_s: float = 0.02
