"""``CrossSiteGuard``: refuse requests another site's page makes a browser send (CSRF).

A page on another site can make a visitor's browser send "simple" requests without asking:
``<img src="/api/chat?tokens=9999">``, a form or ``fetch`` POST with ``Content-Type:
text/plain``, ``new EventSource(...)``. CORS only hides the answer from that page; the request
still reaches the server and, here, starts an agent run with the visitor's cookies. Browsers say
where a request comes from in ``Sec-Fetch-Site`` (all current engines): this guard answers 403
to ``cross-site`` and ``same-site`` requests on the guarded paths unless their ``Origin`` is
allowed, and lets through same-origin requests, navigations (``none``) and requests with no
such header (curl, httpx, servers, the Python client)::

    app = Starlette(routes=..., middleware=[Middleware(CrossSiteGuard, allow_origins=[
        "https://app.example.com",
    ])])

Allowing an origin here does not add CORS headers: pair it with Starlette's ``CORSMiddleware``
(same origins, ``allow_headers=["content-type", "last-event-id", "authorization"]``,
``expose_headers=["x-agent-stream-id", "x-agent-stream-resume-url"]``).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CrossSiteGuard"]

_SAFE_SITES = (b"same-origin", b"none")


class CrossSiteGuard:
    """ASGI middleware: 403 ``cross-site-request`` for requests from other sites' pages.

    ``paths`` are path prefixes to guard (default: ``/api/``); ``allow_origins`` are exact
    origins (``scheme://host[:port]``) whose pages may call them.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Iterable[str] = (),
        paths: Iterable[str] = ("/api/",),
    ) -> None:
        self.app = app
        self.allow_origins = frozenset(o.rstrip("/").encode("latin-1") for o in allow_origins)
        self.paths = tuple(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.paths):
            site = origin = None
            for name, value in scope["headers"]:
                if name == b"sec-fetch-site":
                    site = value
                elif name == b"origin":
                    origin = value
            if site is not None and site not in _SAFE_SITES and origin not in self.allow_origins:
                await _refuse(send, site, origin)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, site: bytes, origin: bytes | None) -> None:
    who = origin.decode("latin-1") if origin else "a page of another site"
    body = msgspec.json.encode(
        {
            "error": {
                "code": "cross-site-request",
                "message": f"{who} may not call this server ({site.decode('latin-1')} request); "
                "the server allows it with CrossSiteGuard(allow_origins=[...])",
            }
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"vary", b"origin, sec-fetch-site"),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
