"""Two plain ASGI middlewares that run before any route: the token check and the body size limit.

They sit outside FastAPI's routing on purpose: an unauthenticated or oversized request is turned
away before its body is parsed, so neither a stranger nor a huge upload costs the server work.
"""

from __future__ import annotations

import json

from momug.server.auth import token_matches

# Everything else needs the token, including paths that do not exist (no probing for routes).
PUBLIC_PATHS = frozenset({"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"})


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


class RequireToken:
    """401 unless the request carries `Authorization: Bearer <token>` (health and docs excepted)."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            if not token_matches(_bearer(scope["headers"]), self.token):
                await send_json(send, 401, {"detail": "missing or wrong token: send 'Authorization: "
                                                      "Bearer <token>' (see 'momug token')"},
                                [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


def _bearer(headers) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


class BodyLimit:
    """413 for bodies over max_bytes, declared or streamed; the body is read here once and replayed."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"detail": f"request body larger than {self.max_bytes} bytes"}
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    await send_json(send, 413, too_big)
                    return
            except ValueError:
                await send_json(send, 400, {"detail": "Content-Length is not a number"})
                return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:   # a chunked upload that never declared its size
                await send_json(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()   # later calls wait for the client to disconnect

        await self.app(scope, replay, send)
