"""The dashboard's session: a signed, HttpOnly, SameSite cookie, and the CSRF token every form carries.

The cookie holds no secret of the team's: only the team id, the id of the token it
signed in with (checked unrevoked on every request), a random CSRF token and a
one-shot notice for the next page. It is signed with INTAKE_SESSION_SECRET
(itsdangerous, timestamped: it expires after SESSION_MAX_AGE); when that is unset,
with a secret generated once per state directory (so the embedded stack's restarts
keep sessions), except under INTAKE_ENV=production, where the dashboard refuses
to sign anyone in (fails closed) until the secret is set.

CSRF: every POST must carry the session's token, as the form field `csrf_token`
or the header X-CSRF-Token (htmx sends it); a missing or wrong one is refused
with 403 before the route runs. SameSite=Lax keeps the cookie off cross-site
POSTs as well.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from core.errors import ConfigurationError
from core.settings import Settings

COOKIE = "intake_session"
COOKIE_PATH = "/ui"
SESSION_MAX_AGE = 12 * 3600
SECRET_FILE = "session-secret"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The page needs a signed-in team (answered with a redirect to the sign-in page)."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (answered 403)."""


class DashboardOff(ConfigurationError):
    """INTAKE_ENV=production and no INTAKE_SESSION_SECRET: the dashboard signs no one in."""


def session_secret(settings: Settings) -> str:
    """The cookie-signing secret (see the module docstring); DashboardOff in production without one."""
    if settings.session_secret is not None and settings.session_secret.get_secret_value():
        return settings.session_secret.get_secret_value()
    if settings.intake_env == "production":
        raise DashboardOff(
            "the dashboard is off: set INTAKE_SESSION_SECRET (a long random string) to sign sessions in production"
        )
    path = Path(settings.state_dir) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as stream:
        stream.write(secret)
    return secret


@dataclass
class UiSession:
    """What a request's cookie says; `changed` when the response must set it again."""

    csrf: str
    team_id: str | None = None
    token_id: str | None = None
    notice: tuple[str, str] | None = None  # (kind, text) for the next page shown
    changed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return self.team_id is not None and self.token_id is not None

    def flash(self, kind: str, text: str) -> None:
        self.notice = (kind, text)
        self.changed = True

    def take_notice(self) -> tuple[str, str] | None:
        notice, self.notice = self.notice, None
        if notice is not None:
            self.changed = True
        return notice


class Sessions:
    """Reads and writes the session cookie with one secret (built once per app)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._serializer: URLSafeTimedSerializer | None = None

    def _signer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            self._serializer = URLSafeTimedSerializer(session_secret(self._settings), salt="intake-ui-session")
        return self._serializer

    def load(self, request: Request) -> UiSession:
        """The request's session; a fresh anonymous one (with a new CSRF token) when it has none or a bad one."""
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = self._signer().loads(raw, max_age=SESSION_MAX_AGE)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                notice = data.get("notice")
                return UiSession(
                    csrf=data["csrf"],
                    team_id=data.get("team"),
                    token_id=data.get("token"),
                    notice=(notice[0], notice[1]) if isinstance(notice, list) and len(notice) == 2 else None,
                )
        return UiSession(csrf=secrets.token_urlsafe(24), changed=True)

    def save(self, request: Request, response: Response, session: UiSession) -> None:
        if not session.changed:
            return
        value = self._signer().dumps(
            {
                "csrf": session.csrf,
                "team": session.team_id,
                "token": session.token_id,
                "notice": list(session.notice) if session.notice else None,
            }
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=SESSION_MAX_AGE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def sign_in(session: UiSession, *, team_id: str, token_id: str) -> None:
        """Signed in as the team: a new CSRF token too, so one seen before sign-in is worth nothing after."""
        session.team_id, session.token_id = team_id, token_id
        session.csrf = secrets.token_urlsafe(24)
        session.changed = True

    @staticmethod
    def sign_out(session: UiSession) -> None:
        session.team_id = session.token_id = None
        session.csrf = secrets.token_urlsafe(24)
        session.changed = True


def check_csrf(session: UiSession, sent: str | None) -> None:
    """Refuse (CsrfRefused) a POST whose token is not the session's."""
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRefused()
