"""The worker's small HTTP endpoint, on its own port (GAVEL_WORKER_HTTP_PORT): what Kubernetes
probes and Prometheus scrapes.

- `GET /metrics`: the registry the worker and its stages actually count on;
- `GET /healthz`: 200 while the loop's heartbeat is fresh, 503 once it is older than
  GAVEL_WORKER_HEARTBEAT_STALE_S (the loop is stuck: restart it);
- `GET /readyz`: 200 when Redis answers and the policies (and the models they need) are loaded,
  else 503 with the reason (a disconnected worker is alive but not ready).

uvicorn serves it inside the worker's event loop; its signal handling is not used (`serve()`
would take over SIGTERM): the worker's own handlers stop everything.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gavel.runtime import Runtime
from gavel.stream.worker import StreamWorker


def worker_app(worker: StreamWorker, runtime: Runtime, stale_s: float) -> Starlette:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(worker.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> JSONResponse:
        age = time.monotonic() - worker.heartbeat
        ok = age <= stale_s
        body = {"status": "ok" if ok else "stale", "heartbeat_age_s": round(age, 3), "stale_after_s": stale_s}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def readyz(request: Request) -> JSONResponse:
        policies = runtime.registry.current.policies
        missing = runtime.models_missing()
        ready = worker.connected and bool(policies) and not missing
        body: dict[str, Any] = {
            "status": "ready" if ready else "not_ready",
            "redis": "connected" if worker.connected else f"disconnected: {worker.disconnect_reason}",
            "policies": {pid: p.version for pid, p in policies.items()},
            "models_missing": missing,
            "consumer": worker.config.consumer,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)],
    )


class WorkerHttp:
    """uvicorn on a socket bound here (a port in use fails loudly, with OSError, at start)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.sock.setblocking(False)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        config.load()
        self.server = uvicorn.Server(config)
        self.server.lifespan = config.lifespan_class(config)
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    async def start(self) -> None:
        await self.server.startup(sockets=[self.sock])
        self._loop_task = asyncio.create_task(self.server.main_loop())

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._loop_task is not None:
            await self._loop_task
        await self.server.shutdown(sockets=[self.sock])
        self.sock.close()
