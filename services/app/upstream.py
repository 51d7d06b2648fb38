"""The other services' APIs, called with the signed-in person's own token: each service
decides for itself what that person may see or do (roles, a rep's own leads), so the app
holds no privilege of its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)
# httpx logs every request at INFO: a page makes several.
logging.getLogger("httpx").setLevel(logging.WARNING)

SERVICES = ("capture", "scoring", "routing", "nurture", "content")


class UpstreamDown(Exception):
    """A service did not answer (down, or too slow); ``service`` names it."""

    def __init__(self, service: str, error: str) -> None:
        super().__init__(f"{service} is not answering ({error})")
        self.service = service


@dataclass(frozen=True)
class Answer:
    """A service's answer: its status and JSON body (the error model for a 4xx)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def reason(self) -> str:
        """The first reason the error model gives, for a message on the page."""
        if isinstance(self.body, dict):
            fields = self.body.get("fields") or []
            if fields and isinstance(fields[0], dict) and fields[0].get("reason"):
                return str(fields[0]["reason"])
            if self.body.get("error"):
                return str(self.body["error"])
        return f"answered {self.status}"


@dataclass
class Upstream:
    """One HTTP client for all five services (made on first use, inside the running loop)."""

    urls: dict[str, str]
    timeout_s: float = 5.0
    _client: httpx.AsyncClient | None = field(default=None, init=False)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # Idle connections are dropped well before the services' own keep-alive (uvicorn's
            # 5 s) closes them: reusing one the server is closing fails as "Server disconnected".
            self._client = httpx.AsyncClient(timeout=self.timeout_s,
                                             limits=httpx.Limits(max_connections=50, max_keepalive_connections=20,
                                                                 keepalive_expiry=2.0))
        return self._client

    async def call(self, service: str, method: str, path: str, token: str, *, params: dict[str, Any] | None = None,
                   json: Any = None, headers: dict[str, str] | None = None) -> Answer:
        """``method path`` on ``service`` as the person holding ``token``. Raises
        :class:`UpstreamDown` when it does not answer."""
        try:
            r = await self.client().request(method, self.urls[service] + path, params=params, json=json,
                                            headers={"authorization": f"Bearer {token}", **(headers or {})})
        except httpx.HTTPError as exc:
            log.warning("upstream call failed", extra={"service": service, "path": path, "error": repr(exc)})
            raise UpstreamDown(service, type(exc).__name__) from None
        try:
            body = r.json()
        except ValueError:
            body = None
        return Answer(r.status_code, body)

    async def file(self, service: str, path: str, token: str) -> tuple[int, bytes, dict[str, str]]:
        """A file a service serves (status, bytes, the content type and disposition headers)."""
        try:
            r = await self.client().get(self.urls[service] + path, headers={"authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise UpstreamDown(service, type(exc).__name__) from None
        kept = {k: v for k, v in r.headers.items() if k in ("content-type", "content-disposition")}
        return r.status_code, r.content, kept

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
