"""Body-size cap as pure ASGI middleware: refuses oversized bodies before they are buffered."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt_paths: tuple[str, ...] = ("/evaluate/stream",)) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # the NDJSON stream is bounded per line, not per body
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        if declared is None:
            # chunked (no Content-Length): an error raised mid-parse would reach the client as FastAPI's
            # 400, so read the body up to the cap first (FastAPI buffers it whole anyway), then replay it
            buffered = await self._buffer(receive)
            if buffered is None:
                await self._refuse(send)
                return
            replay = iter(buffered)

            async def replay_receive() -> Message:
                return next(replay, None) or await receive()

            await self.app(scope, replay_receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _buffer(self, receive: Receive) -> list[Message] | None:
        """The request's messages up to the end of its body; None past max_bytes."""
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: let the app see the disconnect
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "too_large",
                "message": f"request body is over the limit of {self.max_bytes} bytes",
                "problems": [{"field": "body", "problem": f"over {self.max_bytes} bytes"}],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
