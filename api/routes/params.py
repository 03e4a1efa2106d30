"""What the admin routes share: list parameters, strict request bodies, Temporal errors as problems."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.problems import ApiProblem, problem_responses
from client.runs import failure_error
from db.pagination import MAX_LIMIT

T = TypeVar("T")

# Every admin route answers these when the token is missing or unknown, the id is another
# team's or unknown, or the request is malformed.
READ_PROBLEMS = problem_responses(401, 404, 422)
LIST_PROBLEMS = problem_responses(401, 422)
# ... and a route that takes a JSON body: undecodable (400), too large (413), not JSON (415), or
# malformed or of the wrong shape (422).
WRITE_PROBLEMS = problem_responses(400, 401, 404, 409, 413, 415, 422, 503)


class Strict(BaseModel):
    """A request model that refuses fields it does not know (a typo is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")


class ListParams(Strict):
    """Pagination of every list: at most `limit` items after `cursor` (a previous page's `next_cursor`)."""

    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT}.")
    cursor: str | None = Field(
        None, min_length=1, max_length=1000, description="The `next_cursor` of the previous page; none: the first page."
    )


JSON_TYPES = ("application/json",)


async def json_body(request: Request) -> None:
    """Refuse a request body that is not JSON (415) before it is parsed; no body at all is fine."""
    declared = request.headers.get("content-length")
    has_body = (declared is not None and declared != "0") or "transfer-encoding" in request.headers
    if not has_body:
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise ApiProblem(415, f"the request body must be application/json, not {media_type or 'of no declared type'}")


async def temporal(call: Awaitable[T]) -> T:
    """Await a call that reaches Temporal: a refused run or Update answers as its refusal (404, 409,
    422), one that failed on the way as 503, and a Temporal that does not answer as 503."""
    try:
        return await call
    except (WorkflowFailureError, WorkflowUpdateFailedError) as err:
        raise failure_error(err) from err
    except RPCError as err:
        raise ApiProblem(503, f"Temporal did not answer: {' '.join(str(err).split())[:200]}") from err
