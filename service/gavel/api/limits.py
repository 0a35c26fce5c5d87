"""Body-size cap and body timeouts as pure ASGI middleware: oversized bodies are refused before
they are buffered, and a body that stops arriving (shorter than its Content-Length, a slow
client) is cut off instead of holding a connection and a task forever.

- JSON routes: the whole body within `body_timeout_s`, else 408 (JSON body);
- /evaluate/stream: bounded per line, not per body; each chunk within `idle_timeout_s` of the
  previous one, else the stream ends with a `stream_error` line.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooSlow(Exception):
    pass


class BodyLimits:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        body_timeout_s: float = 30.0,
        idle_timeout_s: float = 60.0,
        stream_paths: tuple[str, ...] = ("/evaluate/stream",),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.stream_paths = stream_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in self.stream_paths:
            await self.app(scope, self._timed(receive, self.idle_timeout_s, per_message=True), send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send, 413)
                    return
        # Read the whole body here, within the cap and the deadline, then replay it: FastAPI buffers
        # it whole anyway, and an error raised while FastAPI reads would reach the client as a 400.
        try:
            buffered = await self._buffer(self._timed(receive, self.body_timeout_s, per_message=False))
        except _TooSlow:
            await self._refuse(send, 408)
            return
        if buffered is None:
            await self._refuse(send, 413)
            return
        replay = iter(buffered)

        async def replay_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replay_receive, send)

    def _timed(self, receive: Receive, timeout_s: float, per_message: bool) -> Receive:
        """`receive` with a deadline on the body's messages (per message, or for the whole body);
        after the body's last message it waits freely (a disconnect may come at any time)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        done = False

        async def timed() -> Message:
            nonlocal done
            if done:
                return await receive()
            remaining = timeout_s if per_message else deadline - loop.time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.0))
            except TimeoutError:
                raise _TooSlow(f"no body received for {timeout_s:g} s") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        return timed

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

    async def _refuse(self, send: Send, status: int) -> None:
        if status == 413:
            error, message = "too_large", f"request body is over the limit of {self.max_bytes} bytes"
            problem = f"over {self.max_bytes} bytes"
        else:
            error, message = "timeout", f"the request body did not arrive within {self.body_timeout_s:g} s"
            problem = "incomplete: fewer bytes than Content-Length, or sent too slowly"
        body = json.dumps({"error": error, "message": message, "problems": [{"field": "body", "problem": problem}]})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 408:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})
