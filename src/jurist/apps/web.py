"""What jurist's two web apps (``jurist serve``, ``jurist review``) share to hold under hostile or heavy use.

- :func:`is_loopback` / :func:`check_binding`: an address other machines can reach needs a token;
- :class:`BodyLimit`: a body over the limit is a 413 before it is read whole (announced or streamed);
- :func:`serving`: run an app in a background thread (tests, benchmarks) with uvicorn's
  ``limit_concurrency`` (connections and tasks beyond it get a 503 at once instead of piling up).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse

DEFAULT_HOST = "127.0.0.1"
# Open connections plus running requests a service holds; beyond it uvicorn answers 503 at once (bounded
# memory under a flood). uvicorn counts idle keep-alive connections too, so it sits well above the queue bounds.
DEFAULT_LIMIT_CONCURRENCY = 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only localhost is known to be loopback
        return False


def check_binding(host: str, token: str | None) -> None:
    """A service reachable from other machines must require a token."""
    if not is_loopback(host) and not token:
        raise ValueError(f"binding {host} exposes the judge beyond this machine: give a token (JURIST_SERVE_TOKEN)")


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a secret from a request (any text: non-ASCII is a mismatch, not a 500)."""
    import hmac

    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is a 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = JSONResponse({"detail": f"request body larger than {self.max_bytes} bytes"}, status_code=413)
        await response(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException, so FastAPI answers it as a 413 (not "cannot parse")."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"request body larger than {max_bytes} bytes")


@contextmanager
def serving(app: FastAPI, host: str = DEFAULT_HOST, port: int = 0, timeout_s: float = 10.0,
            limit_concurrency: int | None = DEFAULT_LIMIT_CONCURRENCY) -> Iterator[str]:
    """Serve ``app`` in a background thread while the context is open; yields the base URL (port 0: a free one).
    For tests and benchmarks."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                           limit_concurrency=limit_concurrency, backlog=2048))
    thread = threading.Thread(target=server.run, name="jurist-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the service did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
