from __future__ import annotations

from shared.settings import ServiceSettings


class CaptureSettings(ServiceSettings):
    service_name: str = "capture"
    http_port: int = 8001
    # A capture claiming to have happened further in the future than this is refused.
    max_clock_skew_s: float = 300.0
