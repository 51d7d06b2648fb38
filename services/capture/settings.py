from __future__ import annotations

from shared.privacy import PRIVACY_SERVICES
from shared.settings import ServiceSettings


class CaptureSettings(ServiceSettings):
    service_name: str = "capture"
    http_port: int = 8001
    # A capture claiming to have happened further in the future than this is refused.
    max_clock_skew_s: float = 300.0
    # List imports: the most rows one file may hold, records validated per committed chunk,
    # leads captured per committed chunk, the worker's clock.
    import_max_rows: int = 1_000_000
    import_validate_rows: int = 10_000
    import_chunk_rows: int = 2_000
    import_every_s: float = 1.0
    # Privacy (GDPR). The services whose confirmations complete an erasure (each holds
    # personal data and confirms its part), as JSON in LEADBRIDGE_PRIVACY_SERVICES; the base
    # URL of every other one, which a subject access request (GET /v1/subjects/{email}/export)
    # asks for its part, as JSON in LEADBRIDGE_PEER_URLS.
    privacy_services: tuple[str, ...] = PRIVACY_SERVICES
    peer_urls: dict[str, str] = {"scoring": "http://127.0.0.1:8002", "routing": "http://127.0.0.1:8003",
                                 "nurture": "http://127.0.0.1:8004", "content": "http://127.0.0.1:8005"}
    # Retention: a lead last captured this many days ago and never converted (no CRM outcome)
    # is erased as if the person had asked; 0 keeps leads until they are erased. Checked hourly.
    retention_days: float = 0.0
    retention_every_s: float = 3600.0
    # The largest list upload (its own limit: the app-wide max_body_bytes is for the
    # routes that read their whole body; an upload is streamed to storage).
    import_max_bytes: int = 512 * 1024 * 1024
    # Group commit of concurrent POST /v1/leads: at most this many per transaction, and
    # this many transactions at once (a request arriving while none is in flight goes alone, at once).
    capture_group_max: int = 64
    capture_groups_in_flight: int = 3
