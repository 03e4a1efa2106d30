"""Production connection settings: Temporal over TLS or with an API key (Temporal Cloud's two ways),
a namespace per environment, and PostgreSQL with libpq's TLS options.

`connect()` is the only place a Temporal client is made; these tests check what it passes, and
connect for real where the test stack can answer: the dev server takes an API key (it checks
none) and refuses a TLS handshake; the test PostgreSQL runs without TLS, so `require` is refused
and `prefer` falls back.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from core.errors import ConfigurationError
from core.settings import Settings
from core.temporal import connect, connect_options
from db.engine import connection_arguments, engine_from_settings
from db.tls import DatabaseTLS, split_url, ssl_argument


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, and a client certificate and key it signed (openssl), as files."""
    paths = {name: folder / f"{name}.pem" for name in ("ca", "ca-key", "client", "client-key", "client-csr")}

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=intake test CA",
        "-keyout", str(paths["ca-key"]), "-out", str(paths["ca"]),
    )  # fmt: skip
    run(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=intake-worker",
        "-keyout", str(paths["client-key"]), "-out", str(paths["client-csr"]),
    )  # fmt: skip
    run(
        "x509", "-req", "-in", str(paths["client-csr"]), "-CA", str(paths["ca"]), "-CAkey", str(paths["ca-key"]),
        "-CAcreateserial", "-days", "1", "-out", str(paths["client"]),
    )  # fmt: skip
    return paths


def test_an_api_key_is_sent_over_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "tcld-key-123")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "intake-production.a1b2c")
    options = connect_options(Settings())
    assert options["api_key"] == "tcld-key-123"
    assert options["tls"] is True
    assert options["namespace"] == "intake-production.a1b2c"
    assert "tcld-key-123" not in repr(Settings())


def test_no_tls_settings_means_a_plain_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "")  # as compose writes an unset `${TEMPORAL_API_KEY:-}`
    options = connect_options(Settings())
    assert (options["tls"], options["api_key"], options["namespace"]) == (False, None, "default")


def test_a_client_certificate_and_a_server_ca_are_read_from_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certificates(tmp_path)
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(certs["client"]))
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(certs["client-key"]))
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(certs["ca"]))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.internal")
    tls = connect_options(Settings())["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == certs["client"].read_bytes()
    assert tls.client_private_key == certs["client-key"].read_bytes()
    assert tls.server_root_ca_cert == certs["ca"].read_bytes()
    assert tls.domain == "temporal.internal"


def test_a_certificate_without_its_key_or_a_missing_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(tmp_path / "client.pem"))
    with pytest.raises(ConfigurationError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"):
        connect_options(Settings())
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(tmp_path / "client.key"))
    with pytest.raises(ConfigurationError, match=r"TEMPORAL_TLS_CERT: cannot read .*client\.pem"):
        connect_options(Settings())


async def test_connect_passes_the_api_key_and_namespace_to_a_real_server(temporal_env: WorkflowEnvironment) -> None:
    """An API key turns TLS on (which the dev server refuses: it speaks none); with TLS turned off
    the key goes along on a plain connection (the dev server checks none)."""
    address = temporal_env.client.service_client.config.target_host
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await connect(Settings(temporal_address=address, temporal_api_key="dev-key"))
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await connect(Settings(temporal_address=address, temporal_tls=True))
    plain = await connect(
        Settings(temporal_address=address, temporal_api_key="dev-key", temporal_tls=False, temporal_namespace="default")
    )
    assert plain.api_key == "dev-key" and plain.namespace == "default"
    assert plain.service_client.config.tls is False
    info = await plain.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version


def test_libpq_tls_options_leave_the_url_for_asyncpg() -> None:
    url, tls = split_url("postgresql://app:pw@db.example.net:5432/intake?sslmode=verify-full&sslrootcert=/c/ca.pem")
    assert url == "postgresql://app:pw@db.example.net:5432/intake"
    assert tls == DatabaseTLS(mode="verify-full", root_cert=Path("/c/ca.pem"))
    driver_url, args = connection_arguments("postgresql://app:pw@h/db?sslmode=require")
    assert (driver_url, args) == ("postgresql+asyncpg://app:pw@h/db", {"ssl": "require"})
    assert connection_arguments("postgresql://app:pw@h/db?sslmode=require", DatabaseTLS(mode="disable"))[1] == {
        "ssl": False
    }
    assert connection_arguments("postgresql://app:pw@h/db")[1] == {}


def test_verify_full_checks_the_certificate_and_host_name_against_the_given_ca(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    full = ssl_argument(DatabaseTLS(mode="verify-full", root_cert=certs["ca"]))
    assert isinstance(full, ssl.SSLContext)
    assert full.verify_mode == ssl.CERT_REQUIRED and full.check_hostname
    assert [c["subject"] for c in full.get_ca_certs()] == [((("commonName", "intake test CA"),),)]
    ca_only = ssl_argument(
        DatabaseTLS(mode="verify-ca", root_cert=certs["ca"], cert=certs["client"], key=certs["client-key"])
    )
    assert isinstance(ca_only, ssl.SSLContext)
    assert ca_only.verify_mode == ssl.CERT_REQUIRED and not ca_only.check_hostname
    with pytest.raises(ConfigurationError, match="sslmode must be one of"):
        ssl_argument(DatabaseTLS(mode="sometimes"))
    with pytest.raises(ConfigurationError, match="could not be loaded"):
        ssl_argument(DatabaseTLS(mode="verify-full", root_cert=tmp_path / "missing.pem"))


async def test_the_database_url_ssl_mode_reaches_the_driver(database_url: str) -> None:
    """Against the test PostgreSQL (no TLS): `require` is refused by it, `prefer` falls back to plain,
    and DB_SSL_MODE overrides the URL's mode."""
    separator = "&" if "?" in database_url else "?"

    async def answers(settings: Settings) -> bool:
        engine = engine_from_settings(settings)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(text("select 1"))).scalar_one() == 1
        finally:
            await engine.dispose()

    required = f"{database_url}{separator}sslmode=require"
    with pytest.raises(Exception, match=r"(?i)ssl"):
        await answers(Settings(database_url=required))
    assert await answers(Settings(database_url=f"{database_url}{separator}sslmode=prefer"))
    assert await answers(Settings(database_url=required, db_ssl_mode="disable"))
