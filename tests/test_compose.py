"""docker-compose.yml, the Dockerfile and .dockerignore, checked offline (no Docker engine here).

The compose file is validated against the compose-spec JSON schema (check-jsonschema's copy,
shipped with the package), and then for what the schema cannot see: every reference resolves
(depends_on, networks, named volumes, bind-mounted files, `${VAR}` interpolations, the settings
our services read), every image is pinned, ports do not collide and match what the services
listen on, and the README's Production section names exactly the services the file has.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
# Services that run once and exit; everything else runs until stopped.
ONE_SHOT = {"temporal-admin-tools", "temporal-create-namespace", "migrate", "schedules"}
# Variables our services may read besides the settings: OpenTelemetry's standard ones.
OTEL_VARIABLES = {
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_PROMETHEUS_HOST",
    "OTEL_EXPORTER_PROMETHEUS_PORT",
}


def load() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return load()["services"]


def intake_services() -> dict[str, dict[str, Any]]:
    """The services that run our image (built from this Dockerfile)."""
    return {name: service for name, service in services().items() if "build" in service}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def settings_variables() -> set[str]:
    """Every environment variable core.settings.Settings reads."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif alias is not None:
            names.update(str(choice) for choice in alias.choices)  # type: ignore[union-attr]
    return names


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_compose_file_matches_the_compose_spec_schema() -> None:
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    """The validation is real: a misspelt key, at the top of a service or deeper, is refused."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    depends_on:\n", "    depends_onn:\n", 1))
    assert validate(broken).returncode != 0
    broken.write_text(COMPOSE.read_text().replace("replicas: 3", "replicaz: 3"))
    assert validate(broken).returncode != 0


def test_the_topology_has_every_part() -> None:
    names = set(services())
    assert {
        "postgresql",
        "temporal-admin-tools",
        "temporal",
        "temporal-create-namespace",
        "temporal-ui",
        "migrate",
        "schedules",
        "worker",
        "api",
        "mirror",
    } <= names
    ui = environment(services()["temporal-ui"])
    assert ui["TEMPORAL_ADDRESS"] == "temporal:7233" and ui["TEMPORAL_CORS_ORIGINS"]


def test_every_depends_on_names_a_service_with_a_condition_it_can_meet() -> None:
    all_services = services()
    for name, service in all_services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in all_services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{name} waits for {target} to exit, but it runs until stopped"
            elif condition == "service_healthy":
                assert "healthcheck" in all_services[target], f"{name} waits for {target}'s health, it has no check"
            else:
                pytest.fail(f"{name} -> {target}: condition {condition!r}")


def test_long_running_services_wait_for_the_one_shots_and_have_health_checks() -> None:
    all_services = services()
    for name in ("worker", "api", "mirror"):
        waits = {t for t, s in all_services[name]["depends_on"].items() if s["condition"].endswith("successfully")}
        assert "migrate" in waits, name
    assert "schedules" in all_services["worker"]["depends_on"]
    assert all_services["schedules"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name, service in all_services.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_workers_scale_out() -> None:
    worker = services()["worker"]
    assert worker["deploy"]["replicas"] == 3
    assert not worker.get("ports"), "a published port would stop a second replica from starting"
    for name, service in services().items():
        assert "container_name" not in service, f"{name}: a fixed container name cannot be scaled"


def test_every_network_and_volume_resolves() -> None:
    data = load()
    networks, volumes = set(data.get("networks", {})), set(data.get("volumes", {}))
    for name, service in data["services"].items():
        for network in service.get("networks", []):
            assert network in networks, f"{name}: network {network}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).resolve().exists(), f"{name}: {source} is not in the repository"
            else:
                assert source in volumes, f"{name}: volume {source}"
    used = {v.split(":")[0] for s in data["services"].values() for v in s.get("volumes", [])}
    assert volumes <= used and networks <= {n for s in data["services"].values() for n in s.get("networks", [])}


def test_every_interpolated_variable_has_a_default_or_is_documented() -> None:
    """`${VAR}` without a default must be one .env.example lists; required secrets say so (`:?`)."""
    text = COMPOSE.read_text()
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    references = re.findall(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text)
    assert references
    for name, modifier in references:
        assert modifier or name in documented, f"${{{name}}} has no default and .env.example does not list it"
        if modifier.startswith(":?"):
            assert name in documented, name


def test_no_secret_is_written_into_the_file() -> None:
    """Every password, token and key comes from the environment: each such value is `${...}`."""
    secret = re.compile(r"(PASSWORD|PWD|TOKEN|SECRET|PASSCODE|API_KEY)$")
    for name, service in services().items():
        for key, value in environment(service).items():
            if secret.search(key):
                assert value.startswith("${") and value.endswith("}"), f"{name}: {key} is written in the file"
        database_url = environment(service).get("DATABASE_URL")
        if database_url is not None:
            assert re.match(r"postgresql://[^:]+:\$\{[A-Z_]+:\?[^}]+\}@", database_url), database_url


def test_our_services_set_only_variables_they_read() -> None:
    """A misspelt setting would be silently ignored; every one must be a Settings variable or OTel's."""
    known = settings_variables() | OTEL_VARIABLES
    for name, service in intake_services().items():
        unknown = set(environment(service)) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which nothing reads"


def test_every_image_is_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        assert ":" in image, f"{name}: {image} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for base in re.findall(r"ARG PYTHON_IMAGE=(\S+)", dockerfile):
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base


def test_ports_are_unique_and_match_what_the_services_listen_on() -> None:
    published: dict[int, str] = {}
    for name, service in services().items():
        for port in service.get("ports", []):
            host, container = (int(p) for p in str(port).split(":"))
            assert host not in published, f"{name} and {published[host]} both publish {host}"
            published[host] = name
            check = " ".join(service.get("healthcheck", {}).get("test", []))
            if check:
                assert str(container) in check, f"{name}'s health check does not look at port {container}"
    api = services()["api"]
    command = api["command"]
    assert command[:1] == ["api"] and command[command.index("--port") + 1] == "8000"
    assert "8000:8000" in api["ports"] and "/healthz" in " ".join(api["healthcheck"]["test"])
    for name in ("worker", "mirror"):
        port = environment(services()[name])["OTEL_EXPORTER_PROMETHEUS_PORT"]
        assert port in services()[name]["expose"] and f":{port}/metrics" in " ".join(
            services()[name]["healthcheck"]["test"]
        )


def test_the_one_shot_commands_are_intake_commands() -> None:
    from cli.main import app

    commands = {command.name for command in app.registered_commands} | {group.name for group in app.registered_groups}
    for name, service in intake_services().items():
        assert service["command"][0] in commands | {"api", "mirror"}, f"{name}: {service['command']}"
    assert services()["migrate"]["command"] == ["db", "migrate"]
    assert services()["schedules"]["command"] == ["schedules", "apply"]


def test_the_namespace_step_registers_every_search_attribute() -> None:
    script = (ROOT / "deploy/temporal/create-namespace.sh").read_text()
    listed = re.search(r"for attribute in ([^;]+);", script)
    assert listed is not None
    assert shlex.split(listed.group(1)) == [key.name for key in SEARCH_ATTRIBUTES]


def test_the_readme_names_every_service() -> None:
    readme = (ROOT / "README.md").read_text()
    production = readme.split("\n## Production", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([a-z-]+)` \|", production, flags=re.MULTILINE))
    assert named == set(services()), f"README names {sorted(named)}, the file has {sorted(services())}"


def test_the_image_is_multi_stage_slim_and_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 2 and stages[-1][1] == "runtime"
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.findall(r"^ENTRYPOINT \[\"intake\"\]", dockerfile, flags=re.MULTILINE)
    # Every package the install finds is copied in; nothing else of the tree is.
    copied = set(re.findall(r"^COPY (\w+) \./\w+$", dockerfile, flags=re.MULTILINE))
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in {"tests", "bench"}}
    # api/ (the FastAPI app behind `intake api`) is copied too.
    assert packages <= copied <= packages | {"api"}, copied ^ packages
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".intake", ".env", "tests"} <= set(ignored)
