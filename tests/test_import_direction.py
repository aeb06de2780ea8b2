"""Imports point one way: every module sits in a layer and imports only from its own layer or lower ones.

The layers, lowest first (docs/DEVELOPING.md draws the same diagram):

    0    base      errors, config, atomic, jsonable, workspace, outputs, textsafe, index, resources, the package itself
    1.0  data      readers, the synthetic world, the store
    1.1  text      embedders and their cache (reads data's News)
    1.2  graph     the article-entity graph (reads data's News, embeds entity names with text)
    2    model     catalogue, network, recommender, calibration
    3.0  eval      metrics, slices, evaluation of a model, comparison tables
    3.1  train     trainer, run folders, incremental updates (early stopping reads eval's metrics)
    3.2  diagnostics
    4    serve     the recommender service
    5    app       application layer, plots, tables, formats
    6    faces     commands, cli, http (the FastAPI service), __main__, pages/, app.py

Every import counts: top-level, inside functions, under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "recengine"

# Longest matching prefix wins; a module no prefix matches fails test_every_module_has_a_layer.
LAYERS: dict[str, float] = {
    "recengine.errors": 0,
    "recengine.config": 0,
    "recengine.atomic": 0,
    "recengine.jsonable": 0,
    "recengine.workspace": 0,
    "recengine.outputs": 0,
    "recengine.textsafe": 0,
    "recengine.index": 0,
    "recengine.resources": 0,
    "recengine.data": 1.0,
    "recengine.text": 1.1,
    "recengine.graph": 1.2,
    "recengine.model": 2,
    "recengine.eval": 3.0,
    "recengine.train": 3.1,
    "recengine.diagnostics": 3.2,
    "recengine.serve": 4,
    "recengine.app": 5,
    "recengine.plots": 5,
    "recengine.tables": 5,
    "recengine.formats": 5,
    "recengine.commands": 6,
    "recengine.cli": 6,
    "recengine.http": 6,
    "recengine.__main__": 6,
    # The package itself runs on every submodule import, so it holds base-level code only; its public names load
    # lazily (``_EXPORTS``), and ``from recengine import name`` counts as importing the module that defines name.
    "recengine": 0,
    "pages": 6,
    "app": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py")) + sorted((REPO / "pages").glob("*.py"))
    return files + [REPO / "app.py"]


def layer_of(module: str) -> float | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return None


def facade_exports() -> dict[str, str]:
    """recengine/__init__.py's lazy ``_EXPORTS``: public name -> defining module."""
    for node in ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of every recengine or streamlit import in ``path`` (or in ``source``, read as if it were
    there); ``from recengine import x`` names the submodule x when there is one."""
    source = path.read_text(encoding="utf-8") if source is None else source
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    exports = facade_exports()
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                if is_module(child):
                    found.append((node.lineno, child))
                else:
                    found.append((node.lineno, exports.get(alias.name, base) if base == "recengine" else base))
    wanted = {(line, name) for line, name in found if name == "recengine" or name.startswith(("recengine.", "streamlit"))}
    return sorted(wanted)


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in sources() if layer_of(module_name(p)) is None]
    assert unplaced == [], f"add these modules to LAYERS (and to docs/DEVELOPING.md): {unplaced}"


def test_imports_point_down():
    backwards = []
    for path in sources():
        importer = module_name(path)
        for line, target in imported_modules(path):
            if target.startswith("streamlit"):
                continue
            if layer_of(target) > layer_of(importer):
                backwards.append(f"{path.relative_to(REPO)}:{line} ({importer}, layer {layer_of(importer)}) "
                                 f"imports {target} (layer {layer_of(target)})")
    assert backwards == [], "imports pointing up a layer:\n" + "\n".join(backwards)


def test_no_streamlit_in_the_package():
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for path in PACKAGE.rglob("*.py")
        for line, target in imported_modules(path)
        if target.split(".")[0] == "streamlit"
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from recengine.train.runs import load_run\n", "recengine.train.runs"),
        ("from recengine import plots\n", "recengine.plots"),
        ("def f():\n    import recengine.serve.service\n", "recengine.serve.service"),
        ("from ..train import trainer\n", "recengine.train.trainer"),
        ("import streamlit as st\n", "streamlit"),
        ("from recengine import train_run\n", "recengine.train.api"),
    ],
)
def test_the_walk_sees_every_kind_of_import(source, expected):
    """The checker itself: each import form is found and named by the module it reaches."""
    where = PACKAGE / "eval" / "metrics.py"  # a real location, so the relative import resolves
    assert [name for _, name in imported_modules(where, source)] == [expected]


def test_a_backward_import_is_caught():
    """eval sits below train: the trainer may read metrics, metrics may not read the trainer."""
    (target,) = [name for _, name in imported_modules(PACKAGE / "eval" / "metrics.py", "from recengine.train import trainer\n")]
    assert layer_of(target) > layer_of("recengine.eval.metrics")
