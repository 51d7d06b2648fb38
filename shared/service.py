"""The service factory: one batch consumer co-hosted with one FastAPI app per service.

A service declares what it is (:class:`ServiceDefinition`): its settings, its
migrations, the topics it consumes with their handlers, its HTTP routers and its
clocked work. :func:`create_app` turns that into an ASGI app whose lifespan opens
the database pool and the producer, migrates the service's schema, starts the
consumer (:mod:`shared.consumer`) and the clocks, and stops all of it in reverse
order. Nothing connects at import time.

Every service gets ``GET /healthz`` (200 only when broker and database answer and the
outbox drains, see :meth:`Runtime.check`), ``GET /livez`` and ``GET /metrics``
(Prometheus), all three open (scrape them on a private network); every other route
declares who may call it (:mod:`shared.auth`: ``allow``, ``public``, a source key or a
webhook signature) or the app refuses to start. Structured
JSON logs, a request body limit, and one error model for every 4xx, documented in its
OpenAPI document (:mod:`shared.responses`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import auth, metrics, responses
from shared.audit_api import AuditReaders, audit_router
from shared.consumer import BatchConsumer
from shared.db import migrate
from shared.handling import Periodic, Registry, Subscription
from shared.logs import setup_logging
from shared.runtime import Runtime, handler_name
from shared.settings import ServiceSettings
from shared.wakeups import Sleeper, Wakeups

log = logging.getLogger(__name__)

@dataclass
class ServiceDefinition:
    """What a service is. ``handlers`` is the registry its ``handlers.py`` built from
    ``deps``, the one dependencies object its handlers and routes share (routes get it
    with :func:`get_deps`)."""

    settings: ServiceSettings
    title: str
    migrations: Path | None = None
    handlers: Registry = field(default_factory=Registry)
    deps: Any = None
    routers: list[APIRouter] = field(default_factory=list)
    # Roles besides operator that may read GET /v1/audit, each limited to some subject
    # types (scoring: marketing and sales approvers read the rubric's), see shared.audit_api.
    audit_readers: AuditReaders = field(default_factory=dict)
    # Paths (by prefix) whose request bodies may exceed ``settings.max_body_bytes``, with
    # their own limit: routes that stream what they read to storage (a list import).
    body_limits: dict[str, int] = field(default_factory=dict)

    @property
    def subscriptions(self) -> list[Subscription[Any]]:
        return list(self.handlers.subscriptions)


# Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in a worker
# thread, two thread hand-offs per request for a lookup (15% of capture's CPU per POST
# in the profile, reports/profile-capture-before.txt).
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise RuntimeError("service is not started")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_deps(request: Request) -> Any:
    """The service's dependencies object (``ServiceDefinition.deps``); each service's
    ``api.py`` declares its typed alias: ``DepsDep = Annotated[XDeps, Depends(get_deps)]``."""
    return request.app.state.deps


async def _run_periodic(runtime: Runtime, job: Periodic, sleeper: Sleeper) -> None:
    while True:
        delay = job.every_s
        try:
            await job.run(runtime.unit_of_work)
            if job.next_due_in is not None:
                due_in = await job.next_due_in(runtime.unit_of_work)
                if due_in is not None:
                    delay = min(delay, due_in)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic job failed; will run again", extra={"job": job.name})
        await sleeper.sleep(delay)


async def _open_runtime(settings: ServiceSettings) -> Runtime:
    """Wait for the broker and the database rather than crash-looping while they start."""
    delay, deadline = 0.5, time.monotonic() + 120
    while True:
        try:
            return await Runtime.open(settings)
        except Exception as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("broker or database not reachable yet", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)


class _Observe:
    """ASGI middleware: every request counted and timed by method, route and status
    (``leadbridge_http_*``). Plain ASGI: FastAPI's ``@app.middleware("http")`` runs each
    request through a task and a memory stream, a tenth of a small POST's CPU."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(self.service, method, route).observe(time.perf_counter() - started)


def create_app(definition: ServiceDefinition) -> FastAPI:
    settings = definition.settings
    name = settings.service_name

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        setup_logging(name, settings.log_level, settings.log_json)
        runtime = await _open_runtime(settings)
        tasks: list[asyncio.Task[None]] = []
        consumer = BatchConsumer(settings, definition.subscriptions, runtime.consume_batch)
        wakeups = Wakeups(settings.database_url, runtime.schema)
        for sub in definition.subscriptions:
            metrics.initialise_subscription(name, sub.spec.name, handler_name(sub))
        try:
            applied = await migrate(runtime.pool, runtime.schema, definition.migrations)
            log.info("schema ready", extra={"schema": runtime.schema, "applied": applied})
            for hook in definition.handlers.startup:
                await hook(runtime.unit_of_work)
            api.state.runtime = runtime
            api.state.deps = definition.deps
            jobs = [Periodic("outbox-gauges", 5.0, lambda _: runtime.refresh_outbox_gauges()),
                    Periodic("inbox-prune", settings.inbox_prune_every_s, lambda _: runtime.prune_inbox()),
                    *definition.handlers.periodic]
            tasks = [asyncio.create_task(_run_periodic(runtime, job, wakeups.sleeper(job)), name=job.name)
                     for job in jobs]
            await wakeups.start()
            tasks.append(asyncio.create_task(runtime.run_upkeep(), name="outbox-upkeep"))
            if definition.subscriptions:
                await consumer.start()
            # Everything alive now lives as long as the process: keep it out of the
            # collector's full passes, whose pauses otherwise show in tail latency.
            gc.collect()
            gc.freeze()
            # Handling an event allocates a hundred or so containers; at CPython's default
            # threshold (700) that is a young-generation pass every few events, and each
            # tenth of those feeds the full passes whose cost grows with every lead the
            # service has cached. Scoring spent a third of its CPU there at 100,000 events.
            gc.set_threshold(settings.gc_gen0_threshold, 10, 10)
            metrics.UP.labels(name).set(1)
            log.info("service started", extra={"port": settings.http_port})
            yield
        finally:
            metrics.UP.labels(name).set(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await wakeups.stop()
            await consumer.stop()
            await runtime.close()
            log.info("service stopped")

    # Every route: bodies over the limit are 413, text a database cannot store is 422,
    # and every 4xx is the one error model (shared.responses).
    api = FastAPI(title=definition.title, lifespan=lifespan, dependencies=[Depends(responses.refuse_unsafe_text)])
    responses.install(api, settings.max_body_bytes, definition.body_limits)
    auth.install(api, settings)

    api.add_middleware(_Observe, service=name)

    @api.get("/healthz", tags=["operations"], dependencies=[auth.public], responses={
        503: {"description": "the broker or the database does not answer",
              "content": {"application/json": {"schema": {"type": "object"}}}}})
    async def healthz(runtime: RuntimeDep) -> JSONResponse:
        checks = await runtime.check()
        ok = all(v == "ok" for v in checks.values())
        metrics.UP.labels(name).set(1 if ok else 0)
        return JSONResponse(status_code=200 if ok else 503,
                            content={"status": "ok" if ok else "unavailable", "service": name, "checks": checks})

    @api.get("/livez", tags=["operations"], dependencies=[auth.public])
    async def livez() -> dict[str, str]:
        """The process is up and its event loop answers. What a supervisor's liveness
        probe asks: a broker outage or a stuck outbox (``/healthz``, readiness) is not
        cured by restarting the service, so it must not fail this one."""
        return {"status": "alive", "service": name}

    @api.get("/metrics", tags=["operations"], dependencies=[auth.public], response_class=PlainTextResponse,
             responses={200: {"description": "Prometheus text exposition format"}})
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        api.include_router(router)
    api.include_router(audit_router(name, definition.audit_readers))
    # Fail closed: a route that says nothing about who may call it is a startup error.
    auth.check_routes_declare_callers(api.routes)
    return api


def serve(definition: ServiceDefinition) -> None:
    """Run a service until SIGINT/SIGTERM (the entrypoint of ``python -m services.X``)."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn's server loop ticks ten times a second, to refresh the Date header
        once a second and to notice a stop signal: once a second does both (a stop
        waits at most a second longer) and leaves an idle service asleep."""

        async def main_loop(self) -> None:
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864_000  # on_tick refreshes the Date header every 10th
                await asyncio.sleep(1.0)

    settings = definition.settings
    # uvloop and httptools (pinned in requirements.txt): less CPU per small request than
    # asyncio's loop and h11 (bench/profile_capture.py)
    config = uvicorn.Config(create_app(definition), host=settings.http_host, port=settings.http_port,
                            log_level=settings.log_level.lower(), access_log=False, log_config=None,
                            loop=settings.http_loop, http=settings.http_parser)
    server = QuietServer(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # as uvicorn.run: the lifespan failed (the log says why)
        sys.exit(3)
