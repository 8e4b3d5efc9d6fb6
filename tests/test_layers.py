"""The layering, read from every module's imports (its AST, so imports inside functions and under
TYPE_CHECKING count too): SQLAlchemy only in store/, and the outer layers (cli/, api/, ui/) reach
the database only through services/."""

from __future__ import annotations

import ast
from pathlib import Path

import cosmos_workflow

PACKAGE = Path(cosmos_workflow.__file__).parent
OUTER_LAYERS = ("cli", "api", "ui")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def _imported(path: Path) -> set[str]:
    """Every module name `path` imports, with each of its parents (a.b.c gives a, a.b, a.b.c)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from a import b` may import the module a.b: count both.
            found = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path}: relative import; the package imports absolutely")
        else:
            continue
        for name in found:
            parts = name.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return names


def _violations(layers: tuple[str, ...] | None, forbidden: str) -> list[str]:
    return [
        str(path.relative_to(PACKAGE.parent))
        for path in _modules()
        if _layer(path) != "store"
        and (layers is None or _layer(path) in layers)
        and forbidden in _imported(path)
    ]


def test_the_walk_sees_the_whole_package() -> None:
    layers = {_layer(path) for path in _modules()}
    assert {"store", "services", "worker", *OUTER_LAYERS} <= layers
    assert "sqlalchemy" in _imported(PACKAGE / "store" / "db.py"), "the check can find an import"


def test_only_the_store_imports_sqlalchemy() -> None:
    assert _violations(None, "sqlalchemy") == []


def test_cli_api_and_ui_reach_the_database_only_through_services() -> None:
    assert _violations(OUTER_LAYERS, "cosmos_workflow.store") == []


def test_imports_inside_functions_and_under_type_checking_count(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy.orm import Session\n"
        "def f() -> None:\n"
        "    from cosmos_workflow import store\n"
    )
    assert {"sqlalchemy", "sqlalchemy.orm", "cosmos_workflow.store"} <= _imported(module)


INNER_LAYERS = (
    "domain", "planner", "backends", "store", "services", "worker", "notify", "hosts", "simulator",
)  # fmt: skip


def test_inner_layers_never_import_the_outer_ones() -> None:
    for outer in OUTER_LAYERS:
        assert _violations(INNER_LAYERS, f"cosmos_workflow.{outer}") == [], outer
