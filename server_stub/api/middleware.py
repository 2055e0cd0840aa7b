"""Pure ASGI middleware: body size limit and a structured access log without personal data."""

from __future__ import annotations

import json
import logging
import time

log = logging.getLogger("callcue.server.access")


def _json_error(status: int, code: str, message: str) -> tuple[dict, dict]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413, whether Content-Length says so or the stream does."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"The request body is larger than {self.max_bytes // 1024} KiB; send smaller batches."
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    start, body = _json_error(413, "body_too_large", message)
                    await send(start)
                    return await send(body)
        received = 0
        answered = False

        async def limited_receive():
            # Answer 413 here, the moment the stream passes the limit, and tell the app the client left:
            # raising instead would reach FastAPI's body parsing, which turns any exception into
            # 400 "There was an error parsing the body" (a chunked body over the limit got that).
            nonlocal received, answered
            event = await receive()
            if event["type"] == "http.request" and not answered:
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    answered = True
                    start, body = _json_error(413, "body_too_large", message)
                    await send(start)
                    await send(body)
                    return {"type": "http.disconnect"}
            return event

        async def guarded_send(event):
            if not answered:  # the app's own answer to a request already refused goes nowhere
                await send(event)

        await self.app(scope, limited_receive, guarded_send)


class AccessLogMiddleware:
    """Logs method, route template, status and duration: never the query string (it carries numbers)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def tracking_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            state = scope.get("state") or {}
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope.get("method"),
                    "route": getattr(route, "path", "(unmatched)"),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "agent_id": state.get("agent_id"),
                },
            )
