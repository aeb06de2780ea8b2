"""Datasets in the workspace: generate, import, resolve, list, activate, and their text/graph coverage.

Every face resolves a dataset the same way, through :func:`resolve`: a store name, or a folder, which is
imported into the store the first time it is seen and found again afterwards. A CLI-made dataset is therefore a
store dataset like any other and shows in the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from recengine.data import imports
from recengine.data.mind import MindDataset, load_dataset
from recengine.data.store import Store
from recengine.data.synthetic import DEFAULT_WORLD_VERSION, PRESETS, check_world_version, generate as generate_world
from recengine.errors import InputError
from recengine.outputs import check_output_folder
from recengine.graph import graph_from_news
from recengine.text import EmbeddingCache, TextEmbedder, coverage_warning, embed_news
from recengine.workspace import Workspace

ACTIVE_DATASET = "active_dataset"


def resolve(store: Store, dataset: str | Path | MindDataset) -> dict:
    """The store record of ``dataset``: a store name, a MIND folder, or a loaded dataset.

    A folder or loaded dataset the store has not seen is imported first (under its folder name, made unique), so
    every face finds the same record for the same data. Raises InputError for an unknown name.
    """
    if isinstance(dataset, str) and "/" not in dataset and not Path(dataset).is_dir():
        record = store.dataset(dataset)
        if record is None:
            known = ", ".join(d["name"] for d in store.datasets()) or "none yet"
            raise InputError(f"unknown dataset {dataset!r} (the store has: {known})")
        return record
    if not isinstance(dataset, MindDataset):
        known = store.dataset_at(dataset)  # found by content from file digests: the folder is not parsed again
        if known is not None:
            return store.dataset(known)
        dataset = load_dataset(dataset)
    return store.dataset(store.dataset_for(dataset))


def write_world(preset: str, seed: int, out: str | Path, *, force: bool = False,
                announce: Callable[[str], None] | None = None, world_version: int = DEFAULT_WORLD_VERSION) -> dict:
    """Write the synthetic ``preset`` world (``world_version`` 3 or 2) with ``seed`` to ``out`` (nothing recorded);
    returns its meta.json.

    An existing ``out`` is replaced only with ``force``, and only when it is a world this program generated (or
    empty): a user's own data is never overwritten (see :mod:`recengine.outputs`). ``announce`` hears one line
    once the checks have passed.
    """
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    world_version = check_world_version(world_version)
    out = check_output_folder(out, force=force, kind="dataset")
    if announce:
        announce(f"generating the {preset} preset (seed {seed}, world v{world_version}) into {out} ...")
    return generate_world(preset, seed, out, world_version=world_version)


def generate(
    workspace: Workspace, store: Store, preset: str, seed: int = 0, *, name: str | None = None,
    out: str | Path | None = None, force: bool = False, world_version: int = DEFAULT_WORLD_VERSION,
) -> dict:
    """Generate a synthetic ``preset`` world and record it in the store; returns ``{"dataset": store name, ...}``
    with the store's import counts.

    ``world_version`` 3 (the default) or 2 (the earlier world, kept for reproducibility). ``out`` writes the
    folder there (the CLI's ``--out``; see :func:`write_world` for ``force``); otherwise it goes to
    ``<datasets>/<name>``, which must be new; ``name`` defaults to ``<preset>-seed<seed>``, with ``-v2`` appended
    for a version-2 world.
    """
    world_version = check_world_version(world_version)
    if out is None:
        name = name or f"{preset}-seed{seed}" + ("-v2" if world_version == 2 else "")
        return imports.generate_dataset(workspace, store, preset, seed, name, world_version=world_version)
    write_world(preset, seed, out, force=force, world_version=world_version)
    return {"dataset": resolve(store, Path(out))["name"]}


def import_folder(
    workspace: Workspace, store: Store, path: str | Path, name: str | None = None, *, strict: bool = True,
    anywhere: bool = False,
) -> dict:
    """Import the MIND folder at ``path`` under ``name`` (read in place); returns ``{"dataset": store name, ...}``.
    The dashboard may read only the workspace's import roots; the CLI (``anywhere=True``) reads any folder its user
    can."""
    if not anywhere:
        return imports.import_folder(workspace, store, path, name, strict=strict)
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InputError("not a folder" if folder.exists() else "folder does not exist", path=folder)
    dataset = load_dataset(folder, strict=strict)
    if name is not None:
        imports.check_name(name)
        if store.dataset(name) is not None:
            raise InputError(f"a dataset called {name!r} already exists; choose another name")
    return {"dataset": store.dataset_for(dataset, name=name, exact=name is not None)}


def import_upload(workspace: Workspace, store: Store, files: Sequence[tuple[str, bytes]], name: str, *,
                  strict: bool = True) -> dict:
    """Check uploaded files, move them into ``<datasets>/<name>`` and import them (see
    :func:`recengine.data.imports.import_upload`). A blank ``name`` is refused before any file is read."""
    if not name.strip():
        raise InputError("the upload needs a name (required): 1-64 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit")
    return imports.import_upload(workspace, store, files, name, strict=strict)


def list_datasets(store: Store) -> list[dict]:
    return store.datasets()


def activate(store: Store, name: str) -> dict:
    """Make ``name`` the dataset every face starts with."""
    record = resolve(store, name)
    store.set_setting(ACTIVE_DATASET, record["name"])
    return record


def active(store: Store) -> dict | None:
    name = store.get_setting(ACTIVE_DATASET)
    return store.dataset(name) if name else None


def _coverage(articles: int, share: float | None, text: dict, graph: dict) -> dict:
    """A run's coverage: what :func:`recengine.plots.coverage_chart` takes as ``trained``."""
    return {
        "articles": articles,
        "text_coverage": share,
        "text_warning": coverage_warning(share) if share is not None and articles else None,
        "text": {key: text.get(key) for key in ("backend", "model", "dim", "fields")},
        "graph": dict(graph),
        "graph_coverage": _graph_coverage(graph),
    }


def _graph_coverage(graph: dict) -> float | None:
    """Share of the graph's articles linked to at least one entity (None for an empty graph)."""
    nodes = graph.get("article_nodes") or 0
    return (nodes - graph.get("articles_without_entities", 0)) / nodes if nodes else None


def coverage_from_meta(meta: dict) -> dict:
    """Text and graph coverage of the catalogue a run trained on, from its ``meta.json``."""
    text = meta.get("text") or {}
    return _coverage(meta.get("n_articles") or 0, text.get("coverage"), text, meta.get("graph") or {})


def coverage(
    dataset: MindDataset, embedder: TextEmbedder, *, fields: str = "title+abstract", cache: EmbeddingCache | None = None
) -> dict:
    """How many of the dataset's articles already have a text vector from ``embedder`` in the embedding cache
    (nothing is embedded), and the size of its article-entity graph.

    This is how far embedding has got, not what a model sees: training embeds whatever the cache lacks, so
    ``embedded == 0`` means "not embedded yet", never a model without text. ``missing`` counts the articles
    still to embed; ``blank`` those with no text, which never get a vector."""
    texts = embed_news(dataset.news, embedder, cache=cache or EmbeddingCache(), fields=fields, missing="skip")
    graph = graph_from_news(dataset.news, dataset.entity_vectors).stats()
    blank = sum(1 for text in dataset.news.texts(fields) if not text.strip())
    embedded = int(texts.has_vector.sum())
    return {
        "articles": len(dataset.news),
        "embedder": texts.backend,
        "text": {"backend": texts.backend, "model": texts.model, "dim": texts.dim, "fields": fields},
        "embedded": embedded,
        "embedded_share": texts.coverage if len(dataset.news) else None,
        "missing": len(dataset.news) - embedded - blank,
        "blank": blank,
        "graph": graph,
        "graph_coverage": _graph_coverage(graph),
    }
