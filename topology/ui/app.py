"""The dashboard's web app (Starlette): the page, its static files, a JSON snapshot and a
server-sent event stream of changes.

- ``GET /`` the page; ``GET /static/...`` its script, style and the charting library.
- ``GET /api/state[?stream=NAME]`` every stream's summary, the latest alerts, what the
  consumers are doing and, with ``stream``, that stream's points and alerts.
- ``GET /api/events[?stream=NAME]`` the same as a first ``snapshot`` event, then an
  ``update`` event with what changed (summaries, new alerts, the stream's new points and
  alerts) at most every ``tick_s`` while anything changes, and a comment every 15 s
  otherwise.

The page loads nothing from elsewhere: a Content-Security-Policy header allows only this
origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tcnad.topology.ui.board import Board
from tcnad.topology.ui.feed import Feed, follow

__all__ = ["STATIC", "create_app", "snapshot", "update"]

STATIC = Path(__file__).parent / "static"
_KEEPALIVE_S = 15.0
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def snapshot(board: Board, stream: str | None, config: dict[str, Any]) -> dict[str, Any]:
    """Everything the page shows, for a page that has seen nothing yet."""
    return {
        "seq": board.seq,
        "config": config,
        "feeds": dict(board.feeds),
        "skipped": board.skipped,
        "streams": board.summaries(),
        "alerts": board.alerts(),
        "selected": board.stream(stream) if stream else None,
    }


def update(board: Board, stream: str | None, since: int) -> dict[str, Any]:
    """What changed after ``since``."""
    return {
        "seq": board.seq,
        "feeds": dict(board.feeds),
        "skipped": board.skipped,
        "streams": board.summaries(since),
        "alerts": board.alerts(since),
        "selected": board.stream(stream, since) if stream else None,
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def create_app(
    board: Board,
    feeds: Sequence[Feed] = (),
    *,
    config: dict[str, Any] | None = None,
    tick_s: float = 0.5,
) -> Starlette:
    """The app over ``board``; it follows ``feeds`` while it runs. ``config`` is shown on
    the page (topics, limits). ``app.state.stopping = True`` ends the event streams, so a
    server can shut down without waiting for the pages to leave."""
    shown = dict(config or {})

    async def page(request: Request) -> Response:
        return FileResponse(
            STATIC / "index.html",
            headers={**_headers(), "Content-Security-Policy": _CSP},
        )

    async def state(request: Request) -> Response:
        stream = request.query_params.get("stream") or None
        return JSONResponse(snapshot(board, stream, shown), headers=_headers())

    async def events(request: Request) -> Response:
        stream = request.query_params.get("stream") or None
        return StreamingResponse(
            _events(request, stream),
            media_type="text/event-stream",
            headers={**_headers(), "X-Accel-Buffering": "no"},
        )

    async def _events(request: Request, stream: str | None) -> AsyncIterator[bytes]:
        seen = board.seq
        yield _event("snapshot", snapshot(board, stream, shown))
        quiet = 0.0
        while not request.app.state.stopping:
            await asyncio.sleep(tick_s)
            if await request.is_disconnected():
                return
            if board.seq != seen:
                data = update(board, stream, seen)
                seen = data["seq"]
                quiet = 0.0
                yield _event("update", data)
            else:
                quiet += tick_s
                if quiet >= _KEEPALIVE_S:
                    quiet = 0.0
                    yield b": keep-alive\n\n"

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(follow(board, f, stop), name=f.kind) for f in feeds]
        try:
            yield
        finally:
            stop.set()
            app.state.stopping = True
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/state", state),
            Route("/api/events", events),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.stopping = False
    return app


def _headers() -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
