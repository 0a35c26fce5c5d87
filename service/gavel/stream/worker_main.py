"""`gavel worker`: the worker process. Settings in; runtime, Redis client, HTTP endpoint and
policy reloader up; the loop until SIGTERM/SIGINT; everything released on the way out."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
from prometheus_client import CollectorRegistry
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gavel.errors import GavelError
from gavel.ops.logging import configure_logging
from gavel.ops.reload import PolicyReloader
from gavel.runtime import Runtime, open_runtime
from gavel.settings import Settings
from gavel.stream.worker import StreamWorker, WorkerConfig, WorkerMetrics, WorkerStats
from gavel.stream.worker_http import WorkerHttp, worker_app

log = logging.getLogger("gavel.worker")


def redis_client(settings: Settings, consumer: str) -> aioredis.Redis:
    """No silent retries inside redis-py: the worker reconnects itself (see stream/worker.py);
    the connection is named after the consumer (CLIENT LIST tells the workers apart)."""
    return aioredis.Redis.from_url(
        settings.redis_url,
        client_name=f"gavel-worker:{consumer}",
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=5,
    )


async def serve_worker(
    settings: Settings,
    *,
    policies: Sequence[str] | None = None,
    runtime: Runtime | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Any = None,
) -> WorkerStats:
    """Run until `stop` (or SIGTERM/SIGINT). `on_ready(worker, http)` is called once all is up."""
    consumer = settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"
    registry = CollectorRegistry()
    async with open_runtime(settings, source="worker", runtime=runtime, metrics_registry=registry, paced=True) as rt:
        assert rt.stages is not None
        rt.pipeline.select(policies)  # a worker started with an unknown policy fails now, not per entry
        config = WorkerConfig.from_settings(settings, consumer, policies)
        stop = stop or asyncio.Event()
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        client = redis_client(settings, consumer)
        worker = StreamWorker(config, rt.pipeline, client, WorkerMetrics(rt.stages.metrics), stop)
        http: WorkerHttp | None = None
        if settings.worker_http_port >= 0:
            http = WorkerHttp(
                worker_app(worker, rt, settings.worker_heartbeat_stale_s),
                settings.worker_http_host,
                settings.worker_http_port,
            )
            await http.start()
            log.info("worker endpoint on port %d (/metrics, /healthz, /readyz)", http.port)
        # the worker follows policy changes like the API: SIGHUP, and the directory when asked to watch it
        reloader = PolicyReloader(rt.registry)
        if in_main:
            reloader.install_sighup()
        if settings.watch_policies:
            reloader.start_watching(rt.registry.policy_dir)
        log.info("worker %s reading %s in group %s", config.consumer, config.input_stream, config.group)
        if on_ready is not None:
            on_ready(worker, http)
        try:
            return await worker.run()
        finally:
            await reloader.stop()
            if http is not None:
                await http.stop()
            await client.aclose()
            s = worker.stats
            log.info(
                "worker %s stopped: %d evaluated, %d dead-lettered, %d left for retry, %d reclaimed, "
                "%d failed connection attempts",
                config.consumer,
                s.evaluated,
                s.dead,
                s.retried,
                s.reclaimed,
                s.reconnects,
            )


def worker_command(
    redis: Annotated[str | None, typer.Option("--redis", help="redis://host:port/db (GAVEL_REDIS_URL)")] = None,
    input_stream: Annotated[str | None, typer.Option("--input", help="stream of posts (default gavel:posts)")] = None,
    output_stream: Annotated[
        str | None, typer.Option("--output", help="stream of verdicts (default gavel:verdicts)")
    ] = None,
    dead_stream: Annotated[str | None, typer.Option("--dead", help="dead-letter stream (default gavel:dead)")] = None,
    group: Annotated[str | None, typer.Option("--group", help="consumer group (default gavel)")] = None,
    consumer: Annotated[str | None, typer.Option("--consumer", help="consumer name (default host-pid)")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="entries per read (default 64)")] = None,
    block_ms: Annotated[int | None, typer.Option("--block-ms", help="wait for new entries (default 1000)")] = None,
    reclaim_idle_ms: Annotated[
        int | None,
        typer.Option("--reclaim-idle-ms", help="take over entries pending this long (default 30000)"),
    ] = None,
    max_deliveries: Annotated[
        int | None,
        typer.Option("--max-deliveries", help="deliveries before the dead-letter stream (default 3)"),
    ] = None,
    http_port: Annotated[
        int | None, typer.Option("--http-port", help="port of /metrics, /healthz, /readyz (default 9000; -1: none)")
    ] = None,
    policies: Annotated[str | None, typer.Option("--policies", help="comma-separated policy ids (default all)")] = None,
    policy_dir: Annotated[Path | None, typer.Option("--policy-dir", help="directory of policy YAML files")] = None,
    models: Annotated[str | None, typer.Option("--models", help="models to load; '' for none")] = None,
    store_url: Annotated[str | None, typer.Option("--store-url", help="verdict store URL (default none)")] = None,
    history: Annotated[str | None, typer.Option("--history", help="author history: memory, redis, none")] = None,
) -> None:
    """Evaluate posts from a Redis stream (consumer group, at least once) until SIGTERM/SIGINT."""
    given: dict[str, Any] = {
        "redis_url": redis,
        "input_stream": input_stream,
        "output_stream": output_stream,
        "dead_stream": dead_stream,
        "consumer_group": group,
        "consumer_name": consumer,
        "worker_batch": batch,
        "worker_block_ms": block_ms,
        "reclaim_idle_ms": reclaim_idle_ms,
        "max_deliveries": max_deliveries,
        "worker_http_port": http_port,
        "policy_dir": policy_dir,
        "models": models,
        "store_url": store_url,
        "history_backend": history,
    }
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    configure_logging(settings.log_level, settings.log_json)
    ids = [p.strip() for p in policies.split(",") if p.strip()] if policies else None
    try:
        asyncio.run(serve_worker(settings, policies=ids))
    except GavelError as exc:
        typer.echo(f"gavel worker: {exc}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:  # the HTTP port is taken, say
        typer.echo(f"gavel worker: cannot start: {exc}", err=True)
        raise typer.Exit(1) from exc


if __name__ == "__main__":
    typer.run(worker_command)
