"""Imports run one way: core <- tabular, storage and analysis <- services <- cli and web.
A module may import its own layer and the ones below, never one above."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

LAYERS = [
    # 0: what everything may use
    {"tpn.errors", "tpn.i18n", "tpn.settings", "tpn.runtime", "tpn.models", "tpn.cycle", "tpn"},
    # 1: the core, plain data in and out
    {"tpn.scoring", "tpn.quality", "tpn.graph", "tpn.matching"},
    # 2: files, the database, analyses
    {"tpn.tabular", "tpn.storage", "tpn.analysis", "tpn.samples"},
    # 3: use cases
    {"tpn.services"},
    # 4: the two faces
    {"tpn.cli", "web"},
]
# The core reads no files, knows no web app, no database and no data frames.
CORE_MAY_NOT = {"flask", "werkzeug", "sqlalchemy", "sqlite3", "pandas", "openpyxl", "web"}


def layer_of(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        for k, names in enumerate(LAYERS):
            if prefix in names:
                return k
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layers.py")


def modules():
    for root in ("tpn", "web"):
        for path in sorted((REPO / root).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(REPO).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            yield name, path


def imported(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                out |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
            else:
                out.add(node.module)
    return out


def test_imports_run_one_way():
    wrong = []
    for name, path in modules():
        mine = layer_of(name)
        for target in imported(name, path):
            if target.split(".")[0] not in ("tpn", "web"):
                if mine <= 1 and target.split(".")[0] in CORE_MAY_NOT:
                    wrong.append(f"{name} (core) imports {target}")
                continue
            if layer_of(target) > mine:
                wrong.append(f"{name} (layer {mine}) imports {target} (layer {layer_of(target)})")
    assert wrong == []


def test_the_readme_layout_names_every_package_and_module():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name, path in modules():
        shown = str(path.relative_to(REPO).parent) + "/" if path.name == "__init__.py" else \
            str(path.relative_to(REPO))
        top = path.parent == REPO / "tpn" or (path.name == "__init__.py"
                                              and path.parent.parent == REPO / "tpn")
        if top:
            assert shown in layout, f"README's Layout does not name {shown}"
