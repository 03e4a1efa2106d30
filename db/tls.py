"""TLS to PostgreSQL, as a managed database asks for it.

Managed databases hand out libpq URLs (`...?sslmode=verify-full&sslrootcert=/certs/ca.pem`),
which asyncpg does not take as URL options. `split_url` takes those options out of the URL and
`ssl_argument` turns them (or DB_SSL_MODE / DB_SSL_ROOT_CERT / DB_SSL_CERT / DB_SSL_KEY, which
win) into asyncpg's `ssl=`: libpq's mode names, with `verify-ca` checking the server's
certificate against the CA and `verify-full` its host name too, and a client certificate when
one is given.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from core.errors import ConfigurationError

MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# libpq's names in a URL's query, and the field of DatabaseTLS each sets.
_QUERY = {"sslmode": "mode", "ssl": "mode", "sslrootcert": "root_cert", "sslcert": "cert", "sslkey": "key"}


@dataclass(frozen=True)
class DatabaseTLS:
    mode: str | None = None
    root_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def overridden_by(self, other: DatabaseTLS) -> DatabaseTLS:
        """These options with every option `other` sets replacing ours."""
        changes = {name: value for name, value in vars(other).items() if value is not None}
        return replace(self, **changes)


def split_url(url: str) -> tuple[str, DatabaseTLS]:
    """The URL without its TLS options, and those options."""
    parsed = make_url(url)
    found: dict[str, object] = {}
    for name, field in _QUERY.items():
        if name in parsed.query:
            value = parsed.query[name]
            value = value[-1] if isinstance(value, tuple) else value
            found[field] = Path(value) if field != "mode" else value
    stripped = parsed.difference_update_query(list(_QUERY))
    return stripped.render_as_string(hide_password=False), DatabaseTLS(**found)  # type: ignore[arg-type]


def ssl_argument(tls: DatabaseTLS) -> ssl.SSLContext | str | bool | None:
    """asyncpg's `ssl=` for these options (None: asyncpg's default, which is libpq's `prefer`)."""
    mode = tls.mode.lower() if tls.mode is not None else None
    if mode is not None and mode not in MODES:
        raise ConfigurationError(f"DB_SSL_MODE / sslmode must be one of {', '.join(MODES)}, got {tls.mode!r}")
    if (tls.cert is None) != (tls.key is None):
        raise ConfigurationError("DB_SSL_CERT and DB_SSL_KEY go together: set both or neither")
    if mode == "disable":
        return False
    files = tls.root_cert is not None or tls.cert is not None
    if not files and mode not in ("verify-ca", "verify-full"):
        return mode
    try:
        context = ssl.create_default_context(cafile=str(tls.root_cert) if tls.root_cert is not None else None)
        if mode in ("verify-ca", "verify-full") or tls.root_cert is not None:
            # libpq: a root certificate given means the server's certificate is checked.
            context.check_hostname = mode == "verify-full"
            context.verify_mode = ssl.CERT_REQUIRED
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert is not None and tls.key is not None:
            context.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as err:
        raise ConfigurationError(f"PostgreSQL TLS files could not be loaded: {err}") from None
    return context
