"""The FastAPI application: ingestion, incidents, on call, health. OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from memoguard import __version__
from memoguard.http import alarm, health, incident, oncall
from memoguard.http.limit import MAX_BODY, BodyLimit
from memoguard.http.state import Wiring
from memoguard.services.application import Application


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(
    application: Application,
    engine_alive: Callable[[], bool],
    lifespan_context: Callable[[], AbstractContextManager[None]] = nullcontext,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """``lifespan_context`` runs around serving (``serve`` starts and stops the engine in it)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with lifespan_context():
            yield

    api = FastAPI(title="memoguard", version=__version__, lifespan=lifespan)
    api.state.wiring = Wiring(application, engine_alive)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        # One readable sentence first, the structured list after, for people and for scripts.
        return JSONResponse(
            {"detail": _validation_message(error), "errors": jsonable_encoder(error.errors())},
            status_code=422,
        )

    for module in (alarm, incident, oncall, health):
        api.include_router(module.router)
    api.add_middleware(BodyLimit, limit=max_body)
    return api
