"""Each process's code stays in its own room: what may import what (read from the sources)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "primehub_spawner",
    "jupyterlab_primehub",
    "primehub_executor",
    "primehub_jobs_contract",
    "primehub_cli",
)


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level modules each file of ``package`` imports (relative imports resolved)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = path.relative_to(ROOT).with_suffix("").parts[: -node.level]
                    names.add(".".join((*parts, node.module or "")).strip("."))
                elif node.module:
                    names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden) -> list[str]:
    return sorted(
        f"{file}: {name}"
        for file, names in _imports(package).items()
        for name in names
        if forbidden(name)
    )


def _inside(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_hub_side_imports_only_the_contract_of_the_other_processes():
    assert (
        _offenders(
            "primehub_spawner", lambda n: _inside(n, "jupyterlab_primehub", "primehub_executor")
        )
        == []
    )


def test_the_executor_imports_no_server_or_hub_code():
    assert (
        _offenders(
            "primehub_executor", lambda n: _inside(n, "jupyterlab_primehub", "primehub_spawner")
        )
        == []
    )


def test_the_cli_is_a_client_that_no_process_imports():
    """``primehub`` talks HTTP only: of the other rooms it may use the contract and the
    in-server client ``jupyterlab_primehub.cli``, and no process imports it."""

    def forbidden(name: str) -> bool:
        if name == "jupyterlab_primehub.cli":
            return False
        return _inside(name, "primehub_spawner", "primehub_executor", "jupyterlab_primehub")

    assert _offenders("primehub_cli", forbidden) == []
    for package in PACKAGES[:-1]:
        assert _offenders(package, lambda n: _inside(n, "primehub_cli")) == [], package


def test_the_contract_is_pure_standard_library():
    def third_party(name: str) -> bool:
        top = name.split(".")[0]
        return top != "primehub_jobs_contract" and top not in sys.stdlib_module_names

    assert _offenders("primehub_jobs_contract", third_party) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_the_jobs_folder_and_executor_module_are_named_only_in_the_contract(package):
    for path in (ROOT / package).rglob("*.py"):
        if package == "primehub_jobs_contract":
            continue
        text = path.read_text()
        assert '".primehub-jobs"' not in text, path
        assert '"primehub_executor"' not in text, path
        assert "jupyterlab_primehub.jobs.execute" not in text, path
