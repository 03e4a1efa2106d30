"""What the Gmail, Calendar and Sheets clients share: building the official client, running it safely.

``google-api-python-client`` is synchronous and ``httplib2`` is not
thread-safe, so :class:`GoogleApi` builds the service object once (static
discovery, no network) and runs each request in a worker thread
(``asyncio.to_thread``) with that thread's own authorized ``httplib2.Http``.

The base URL from settings stands for the service's host root (e.g.
``https://www.googleapis.com/``); the discovery document's ``servicePath``
(``calendar/v3/``) is appended to make the client's ``api_endpoint``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import GoogleAuthError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from integrations.errors import (
    AuthenticationError,
    IntegrationError,
    RetryableIntegrationError,
    classify_status,
    parse_retry_after,
)


class GoogleApi:
    """One Google API (e.g. ``gmail`` ``v1``) reachable at ``root_url`` with a bearer ``token``."""

    def __init__(self, name: str, version: str, *, root_url: str, token: str, timeout: float) -> None:
        document = get_static_doc(name, version)
        if document is None:
            raise ValueError(f"no static discovery document for {name} {version}")
        service_path = json.loads(document)["servicePath"]
        self.name = name
        self.endpoint = root_url.rstrip("/") + "/" + service_path
        self._credentials = Credentials(token=token)
        self._timeout = timeout
        self._local = threading.local()
        self._collections: dict[str, Any] = {}
        self._collections_lock = threading.Lock()
        self.resource = build(
            name,
            version,
            http=httplib2.Http(timeout=timeout),  # never used to send: each call passes its thread's own
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.endpoint},
        )

    def collection(self, path: str) -> Any:
        """The resource collection at ``path`` (e.g. ``"spreadsheets.values"``), built once.

        Building one walks the discovery document (a third of a second for
        Sheets), so it is cached; making a request from it afterwards is cheap
        and reads it only, which is safe across threads.
        """
        with self._collections_lock:
            if path not in self._collections:
                node = self.resource
                for part in path.split("."):
                    node = getattr(node, part)()
                self._collections[path] = node
            return self._collections[path]

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        http = getattr(self._local, "http", None)
        if http is None:
            http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=self._timeout))
            self._local.http = http
        return http

    def _drop_http(self) -> None:
        """Forget this thread's connection (after a timeout it may hold half an answer)."""
        self._local.http = None

    async def execute(self, operation: str, make_request: Callable[[GoogleApi], Any]) -> dict[str, Any]:
        """Build the request (``make_request(self)``, typically from :meth:`collection`) and
        execute it in a worker thread."""

        def run() -> dict[str, Any]:
            try:
                return make_request(self).execute(http=self._http(), num_retries=0)
            except (TimeoutError, OSError, httplib2.HttpLib2Error):
                self._drop_http()
                raise

        try:
            return await asyncio.to_thread(run)
        except HttpError as exc:
            raise google_error(self.name, operation, exc) from exc
        except GoogleAuthError as exc:
            raise AuthenticationError(str(exc), service=self.name, operation=operation) from exc
        except (TimeoutError, OSError, httplib2.HttpLib2Error) as exc:
            raise RetryableIntegrationError(
                f"no answer from Google: {type(exc).__name__}: {exc}", service=self.name, operation=operation
            ) from exc


def list_request(path: str, params: Mapping[str, Any]) -> Callable[[GoogleApi], Any]:
    """For :meth:`GoogleApi.execute`: the ``list`` request of the collection at ``path`` with ``params``.

    The request is bound to the ``params`` passed here (not to a variable of the caller's
    loop), so a paging loop can hand over each page's own parameters.
    """
    return lambda api: api.collection(path).list(**params)


def google_error(service: str, operation: str, exc: HttpError) -> IntegrationError:
    """Map Google's ``{"error": {"code", "message", "errors": [{"reason"}], "status"}}`` to our kinds."""
    status = int(exc.resp.status)
    message = exc.reason or ""
    reason: str | None = None
    try:
        error = json.loads(exc.content.decode("utf-8")).get("error", {})
        message = error.get("message", message)
        reasons = [e.get("reason") for e in error.get("errors", []) if e.get("reason")]
        reason = reasons[0] if reasons else error.get("status")
    except (ValueError, AttributeError):
        pass
    return classify_status(
        message,
        service=service,
        operation=operation,
        status=status,
        code=reason,
        retry_after=parse_retry_after(exc.resp.get("retry-after")),
    )
