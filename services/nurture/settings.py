from __future__ import annotations

from shared.settings import ServiceSettings


class NurtureSettings(ServiceSettings):
    service_name: str = "nurture"
    http_port: int = 8004
