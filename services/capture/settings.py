from __future__ import annotations

from shared.settings import ServiceSettings


class CaptureSettings(ServiceSettings):
    service_name: str = "capture"
    http_port: int = 8001
    # A capture claiming to have happened further in the future than this is refused.
    max_clock_skew_s: float = 300.0
    # List imports: the most rows one file may hold, rows per committed chunk, the worker's clock.
    import_max_rows: int = 1_000_000
    import_chunk_rows: int = 500
    import_every_s: float = 1.0
