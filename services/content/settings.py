from __future__ import annotations

from shared.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    service_name: str = "content"
    http_port: int = 8005
    # Only learns each lead's segment: fewer, larger batches and less idle polling than
    # the base 5 ms.
    consumer_batch_within_s: float = 0.05
