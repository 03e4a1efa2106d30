"""The import rules of the house, read from the source (ast): imports flow one way.

- a contract module imports only the standard library and pydantic;
- a workflow module imports no db/, integrations/ or sandbox/ module, and activities
  only inside `workflow.unsafe.imports_passed_through()`;
- db/ and integrations/ import nothing of the layers above them.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = {
    "activities",
    "cli",
    "client",
    "contracts",
    "core",
    "db",
    "integrations",
    "sandbox",
    "stack",
    "workflows",
    "worker",
    "api",
    "bench",
    "migrations",
    "telemetry",
}


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module, line, inside `imports_passed_through()`) for every import in the file."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, passed_through: bool) -> None:
        if isinstance(node, ast.With):
            passed_through = passed_through or any(
                "imports_passed_through" in ast.unparse(item.context_expr) for item in node.items
            )
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node.lineno, passed_through) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], node.lineno, passed_through))
        for child in ast.iter_child_nodes(node):
            visit(child, passed_through)

    visit(ast.parse(path.read_text()), False)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("contracts"), ids=lambda p: p.stem)
def test_a_contract_imports_only_the_standard_library_and_pydantic(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__", "pydantic", "contracts"}
    wrong = [f"line {line}: {module}" for module, line, _ in _imports(path) if module not in allowed]
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


@pytest.mark.parametrize("path", _modules("workflows"), ids=lambda p: p.stem)
def test_a_workflow_imports_no_database_service_or_sandbox_code(path: Path) -> None:
    wrong = [
        f"line {line}: {module}"
        for module, line, passed in _imports(path)
        if module in {"db", "integrations", "sandbox", "sqlalchemy", "asyncpg", "httpx", "cli", "client"}
        or (module == "activities" and not passed)
    ]
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


@pytest.mark.parametrize("folder", ["db", "integrations", "core"])
def test_lower_layers_import_nothing_above_them(folder: str) -> None:
    above = {"activities", "workflows", "client", "cli", "api", "worker", "stack", "sandbox", "bench", "telemetry"}
    wrong = [
        f"{path.relative_to(ROOT)} line {line}: {module}"
        for path in _modules(folder)
        for module, line, _ in _imports(path)
        if module in above
    ]
    assert not wrong


def test_telemetry_imports_only_core_and_db() -> None:
    """Telemetry is wired by the entry points (worker.py, the API, the CLI); it knows no pipeline."""
    above = {"activities", "workflows", "client", "cli", "api", "worker", "stack", "sandbox", "bench", "integrations"}
    wrong = [
        f"{path.relative_to(ROOT)} line {line}: {module}"
        for path in _modules("telemetry")
        for module, line, _ in _imports(path)
        if module in above
    ]
    assert not wrong


def test_the_rules_catch_a_forbidden_import(tmp_path: Path) -> None:
    """The reader sees imports at any depth, and the passthrough block."""
    module = tmp_path / "sample.py"
    module.write_text(
        "from temporalio import workflow\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from activities.discussions import DiscussionActivities\n"
        "def later():\n"
        "    from db.models.discussions import Discussion\n"
    )
    assert _imports(module) == [("temporalio", 1, False), ("activities", 3, True), ("db", 5, False)]
