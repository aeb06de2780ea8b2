"""Damaged run folders on every command that reads a run, and weights or cached vectors holding NaN/Inf.

Library side of truncated weights, a newer format, missing pieces and a pickle is in tests/test_runs.py; here each
of them goes through ``evaluate``, ``recommend``, ``add-article`` and ``update``: exit status 2, one line naming the
file, no traceback, and nothing written (no store file, no archive entry, no output run). A damaged JSON *shape*
(valid JSON, wrong types) must be a clear message too, not an internal error.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from recengine.cli import main
from recengine.errors import RunFormatError
from recengine.serve.service import RecommenderService
from recengine.data.store import Store
from recengine.text import EmbeddingCache, get_embedder
from recengine.train.api import evaluate_run
from recengine.train.runs import load_run

from .conftest import assert_one_line_error, folder_digest, run_cli


def _json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    data = change(data) or data
    path.write_text(json.dumps(data))


class _Exploit:
    """Unpickling this would create the file ``marker``: the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def poison(run: Path, value: float, name: str | None = None) -> str:
    """Put ``value`` into one floating-point tensor of the run's weights (the first dense one by default)."""
    state = load_file(str(run / "weights.safetensors"))
    name = name or next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name].view(-1)[0] = value
    save_file(state, str(run / "weights.safetensors"))
    return name


# name -> (how to damage a run folder, words the one-line message must contain)
DAMAGE = {
    "truncated-weights": (
        lambda run: (run / "weights.safetensors").write_bytes((run / "weights.safetensors").read_bytes()[:5000]),
        ["weights.safetensors", "damaged or truncated"]),
    "newer-config": (lambda run: _json(run / "config.json", lambda c: c.update(format_version=99)),
                     ["config.json", "newer recengine"]),
    "missing-id-maps": (lambda run: (run / "id_maps.json").unlink(), ["incomplete run folder, missing id_maps.json"]),
    "missing-weights": (lambda run: (run / "weights.safetensors").unlink(),
                        ["incomplete run folder, missing weights.safetensors"]),
    "pickle-as-weights": (
        lambda run: (run / "weights.safetensors").write_bytes(pickle.dumps(_Exploit(run.parent / "executed"))),
        ["weights.safetensors", "damaged or truncated"]),
    "nan-in-weights": (lambda run: poison(run, float("nan")), ["weights.safetensors", "NaN or Inf"]),
}

COMMANDS = {
    "evaluate": lambda run, tmp: ["evaluate", "--run", run],
    "recommend": lambda run, tmp: ["recommend", "--run", run, "--user", "U1", "--store", tmp / "store.db"],
    "add-article": lambda run, tmp: ["add-article", "--run", run, "--title", "Fresh news", "--store",
                                     tmp / "store.db"],
    "update": lambda run, tmp: ["update", "--run", run, "--new-data", tmp / "new", "--out", tmp / "updated",
                                "--archive", tmp / "archive", "--epochs", "1"],
}


@pytest.fixture(scope="module")
def new_data(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Some new clicks for ``update``: the tiny world's dev split as a bare folder."""
    import shutil

    folder = tmp_path_factory.mktemp("new") / "new"
    shutil.copytree(tiny_data / "dev", folder)
    (folder / "truth.tsv").unlink(missing_ok=True)
    return folder


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_is_one_line_on_every_command(run_copy, tmp_path, new_data, tiny_cache, capsys, damage,
                                                    command):
    import shutil

    shutil.copytree(new_data, tmp_path / "new")
    change, words = DAMAGE[damage]
    change(run_copy)
    before = folder_digest(run_copy)
    argv = [str(a) for a in COMMANDS[command](run_copy, tmp_path)] + ["--cache", str(tiny_cache.folder)]
    code = main(argv)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(code, captured.err, str(run_copy), *words)
    # Nothing written: the run as it was, no store, no archive entry, no output run, and no code ran.
    assert folder_digest(run_copy) == before
    assert not (tmp_path / "store.db").exists()
    assert not (tmp_path / "updated").exists()
    archive = tmp_path / "archive"
    assert not archive.exists() or [p.name for p in archive.iterdir()] in ([], [".lock"])
    assert not (tmp_path / "executed").exists()


def test_a_real_process_on_a_damaged_run(run_copy, tmp_path, tiny_cache):
    """The same through a real interpreter: exit status 2 and exactly one stderr line, no traceback."""
    DAMAGE["truncated-weights"][0](run_copy)
    done = run_cli("recommend", "--run", run_copy, "--user", "U1", "--store", tmp_path / "s.db", "--cache",
                   tiny_cache.folder)
    line = assert_one_line_error(done.code, done.err, "weights.safetensors", "damaged or truncated")
    assert done.err.splitlines() == [f"loading run {run_copy} ...", line] and done.out == ""


# --------------------------------------------------------------------------- valid JSON of the wrong shape


SHAPES = {
    "config-not-an-object": (lambda run: (run / "config.json").write_text("[1, 2]"),
                             ["config.json", "expected a JSON object"]),
    "config-bad-value": (lambda run: _json(run / "config.json", lambda c: c["model"].update(dim="big")),
                         ["config.json", "dim must be a whole number between"]),
    "meta-not-an-object": (lambda run: (run / "meta.json").write_text("[]"), ["meta.json", "expected a JSON object"]),
    "meta-version-not-a-number": (lambda run: _json(run / "meta.json", lambda m: m.update(format_version="2")),
                                  ["meta.json", "format_version"]),
    "meta-dataset-not-an-object": (lambda run: _json(run / "meta.json", lambda m: m.update(dataset=5)),
                                   ["meta.json", "dataset"]),
    "meta-calibration-malformed": (
        lambda run: _json(run / "meta.json", lambda m: m.update(calibration={"scale": "x", "shift": 0.0})),
        ["meta.json", "calibration"]),
    "id-maps-not-lists": (lambda run: _json(run / "id_maps.json", lambda m: m.update(users={"U1": 0})),
                          ["id_maps.json", "expected lists"]),
}


@pytest.mark.parametrize("damage", list(SHAPES))
def test_valid_json_of_the_wrong_shape_is_a_clear_message(run_copy, tmp_path, tiny_cache, capsys, damage):
    change, words = SHAPES[damage]
    change(run_copy)
    with pytest.raises(RunFormatError) as info:
        load_run(run_copy, cache=tiny_cache)
    assert str(run_copy) in str(info.value) and all(w in str(info.value) for w in words), str(info.value)
    argv = ["add-article", "--run", str(run_copy), "--title", "Fresh", "--store", str(tmp_path / "s.db"),
            "--cache", str(tiny_cache.folder)]
    assert_one_line_error(main(argv), capsys.readouterr().err, *words)
    assert not (tmp_path / "s.db").exists()


# --------------------------------------------------------------------------- NaN and Inf


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_weights_holding_nan_or_inf_are_refused_naming_the_tensor(run_copy, tiny_cache, tmp_path, value):
    name = poison(run_copy, value)
    with pytest.raises(RunFormatError) as info:
        load_run(run_copy, cache=tiny_cache)
    message = str(info.value)
    assert f"{run_copy / 'weights.safetensors'}" in message and name in message and "NaN or Inf" in message
    # The service refuses it the same way instead of serving NaN scores.
    with pytest.raises(RunFormatError, match="NaN or Inf"):
        RecommenderService(run_copy, Store(tmp_path / "s.db"), cache=tiny_cache)


def test_nan_in_an_id_table_row_is_refused_too(run_copy, tiny_cache):
    poison(run_copy, float("nan"), "user_ids.weight")
    with pytest.raises(RunFormatError, match=r"user_ids\.weight.*NaN or Inf"):
        load_run(run_copy, cache=tiny_cache)


def test_nan_vectors_in_the_embedding_cache_are_embedded_again(tiny_run, tmp_path):
    """A damaged cache row (NaN or Inf float32 bytes) counts as missing, like a row of the wrong size: the text is
    embedded again and the row overwritten, so evaluation gives the clean cache's numbers, not NaN scores."""
    clean = EmbeddingCache(tmp_path / "clean")
    expected = evaluate_run(tiny_run, cache=clean)["model"]
    damaged = EmbeddingCache(tmp_path / "damaged")
    embedder = get_embedder("hashing")
    evaluate_run(tiny_run, cache=damaged)  # fills it
    with sqlite3.connect(damaged.path(embedder)) as conn:
        rows = conn.execute("SELECT text_hash FROM embeddings").fetchall()
        bad = np.full(embedder.dim, np.nan, dtype="<f4")
        bad[1] = np.inf
        conn.executemany("UPDATE embeddings SET vector = ? WHERE text_hash = ?",
                         [(bad.tobytes(), key) for (key,) in rows[::2]])
    loaded = load_run(tiny_run, cache=damaged)
    assert torch.isfinite(torch.as_tensor(loaded.recommender.catalog.text)).all()
    assert evaluate_run(loaded, cache=damaged)["model"] == expected
    with sqlite3.connect(damaged.path(embedder)) as conn:
        vectors = [np.frombuffer(blob, dtype="<f4") for (blob,) in conn.execute("SELECT vector FROM embeddings")]
    assert all(np.isfinite(v).all() for v in vectors)


def test_nan_and_inf_in_entity_vectors_are_skipped_rows(run_copy):
    """entity_embedding.vec: covered row by row in tests/test_mind_bad_input.py (vector-nan, vector-inf); the rows
    are skipped and counted, so no non-finite value reaches the graph view. Checked here end to end on a run's
    dataset: the loaded catalogue's entity features are finite."""
    loaded = load_run(run_copy)
    features = loaded.recommender.catalog.graph.tensors()
    for value in (features if isinstance(features, (list, tuple)) else [features]):
        tensors = value.values() if isinstance(value, dict) else [value]
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                assert torch.isfinite(tensor).all()
