from __future__ import annotations

from shared.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    service_name: str = "content"
    http_port: int = 8005
