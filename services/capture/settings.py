from __future__ import annotations

from shared.settings import ServiceSettings


class CaptureSettings(ServiceSettings):
    service_name: str = "capture"
    http_port: int = 8001
    # A capture claiming to have happened further in the future than this is refused.
    max_clock_skew_s: float = 300.0
    # Its consumers only keep the lead view current: 20 ms per batch is invisible to a
    # reader, and six topics poll a quarter as often as with the base 5 ms while idle.
    consumer_batch_within_s: float = 0.02
