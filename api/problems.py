"""Every error the API answers has one shape: RFC 9457 problem details.

`{"type", "title", "status", "detail"}` as `application/problem+json`, the detail a
sentence naming what is wrong (the field, the id, the allowed values), plus `errors`
(field and message) for a body or query that failed validation. Our own errors map by
kind: refused input 422, unknown 404, a collision with existing state 409.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import ConflictError, IntakeError, InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error response (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


def problem_response(
    status: int, detail: str, *, errors: list[FieldProblem] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE, headers=headers)


class ApiProblem(Exception):
    """Raised by a route to answer with a problem: `status` and a detail naming what is wrong."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


# How each of our error kinds answers.
STATUS_OF: list[tuple[type[IntakeError], int]] = [
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
]


# For OpenAPI: the error responses a route may give, documented once.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {}}}
        for status in statuses
    }


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc]
    # FastAPI puts where a value came from first ("body", "query", "path"); keep it: it says where to look.
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, err: ApiProblem) -> JSONResponse:
        return problem_response(err.status, err.detail, headers=err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        detail = err.detail if isinstance(err.detail, str) and err.detail != HTTPStatus(err.status_code).phrase else ""
        if not detail:
            detail = {
                404: f"no route {request.url.path}",
                405: f"{request.method} is not allowed on {request.url.path}",
            }.get(err.status_code, HTTPStatus(err.status_code).description)
        return problem_response(err.status_code, detail, headers=getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [FieldProblem(field=_field(e.get("loc", ())), message=e.get("msg", "invalid")) for e in err.errors()]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "the request is invalid"
        return problem_response(422, detail, errors=errors)

    @app.exception_handler(IntakeError)
    async def _intake(request: Request, err: IntakeError) -> JSONResponse:
        for kind, status in STATUS_OF:
            if isinstance(err, kind):
                return problem_response(status, " ".join(str(err).split()))
        log.exception("%s %s failed", request.method, request.url.path, exc_info=err)
        return problem_response(503, " ".join(str(err).split()))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=err)
        return problem_response(500, "the server failed to answer this request; its log says why")
