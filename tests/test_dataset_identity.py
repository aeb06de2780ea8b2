"""Datasets are identified by their content, not their folder name: recengine.data.identity and the store's one
resolver (Store.dataset_for), including stores written by schema version 1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from recengine.cli import main
from recengine.data import identity, imports
from recengine.data.mind import load_dataset
from recengine.data.store import SCHEMA_VERSION, Store, _dataset_rows, _legacy_digest
from recengine.data.synthetic import generate
from recengine.errors import InputError

V1_DATASETS = """CREATE TABLE datasets (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('generated', 'imported')),
    preset TEXT,
    seed INTEGER,
    imported_at TEXT NOT NULL,
    summary TEXT NOT NULL,
    fingerprint TEXT NOT NULL
)"""
# Versions 1 and 2 kept a comparison's cells as wide rows.
V1_COMPARISONS = """CREATE TABLE comparison_results (
    id INTEGER PRIMARY KEY,
    comparison_id INTEGER NOT NULL,
    fusion TEXT NOT NULL,
    temperature REAL NOT NULL,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    run_id TEXT,
    auc REAL,
    mrr REAL,
    ndcg5 REAL,
    ndcg10 REAL,
    random_auc REAL,
    oracle_auc REAL,
    extra TEXT NOT NULL,
    UNIQUE (comparison_id, fusion, temperature, loss, seed)
)"""


@pytest.fixture(scope="module")
def world_seed1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world with another seed (read-only)."""
    root = tmp_path_factory.mktemp("seed1") / "tiny"
    generate("tiny", 1, root)
    return root


def copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def users_with_histories(store: Store, name: str) -> dict[str, list[str]]:
    return {user: store.user_history(name, user, limit=1000) for user in store.users(name)["user_id"]}


# --------------------------------------------------------------------------- the fingerprint


def test_the_fingerprint_follows_the_content_not_the_folder(tiny_data: Path, world_seed1: Path, tmp_path: Path):
    same = copy(tiny_data, tmp_path / "another name")
    assert identity.dataset_fingerprint(same) == identity.dataset_fingerprint(tiny_data)
    assert identity.dataset_fingerprint(world_seed1) != identity.dataset_fingerprint(tiny_data)
    # How the data was made is not the data.
    (same / "meta.json").write_text(json.dumps({"note": "edited"}))
    assert identity.dataset_fingerprint(same) == identity.dataset_fingerprint(tiny_data)
    # One changed line in any data file, dev's truth included, is another dataset.
    for name in ("train/behaviors.tsv", "dev/news.tsv", "dev/truth.tsv"):
        changed = copy(tiny_data, tmp_path / name.replace("/", "-"))
        lines = (changed / name).read_text().splitlines(keepends=True)
        (changed / name).write_text("".join(lines[:-1]))
        assert identity.dataset_fingerprint(changed) != identity.dataset_fingerprint(tiny_data), name


def test_a_bare_split_folder_is_its_train_split(tiny_data: Path, tmp_path: Path):
    bare = copy(tiny_data / "train", tmp_path / "bare")
    only_train = tmp_path / "only-train"
    copy(tiny_data / "train", only_train / "train")
    assert identity.dataset_fingerprint(bare) == identity.dataset_fingerprint(only_train)
    assert set(identity.dataset_files(bare)) == {"train/news.tsv", "train/behaviors.tsv", "train/entity_embedding.vec"}
    with pytest.raises(InputError, match="not a MIND folder"):
        identity.dataset_files(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        identity.dataset_files(tmp_path / "nothing")


def test_file_digests_are_kept_in_the_store_and_refreshed_when_a_file_changes(
    tiny_data: Path, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
):
    folder = copy(tiny_data, tmp_path / "data")
    first = store.fingerprint(folder)
    cached = dict(store.db.execute("SELECT path, digest FROM file_digests").fetchall())
    for path in identity.dataset_files(folder).values():
        assert cached[str(path.resolve())] == hashlib.sha256(path.read_bytes()).hexdigest()

    # A later process (no memory of its own) reads no file again: the store has every digest.
    monkeypatch.setattr(identity, "_memo", {})
    monkeypatch.setattr(identity, "file_digest", lambda path: pytest.fail(f"{path} was read again"))
    assert Store(store.path).fingerprint(folder) == first

    # A file touched since is read again.
    read: list[str] = []
    monkeypatch.setattr(identity, "file_digest", lambda path: read.append(path.name) or "0" * 64)
    news = folder / "dev" / "news.tsv"
    os.utime(news, ns=(news.stat().st_atime_ns, news.stat().st_mtime_ns + 10**9))
    assert Store(store.path).fingerprint(folder) != first
    assert read == ["news.tsv"]


# --------------------------------------------------------------------------- the resolver


def test_the_same_content_under_another_folder_name_is_the_same_dataset(tiny_data: Path, tmp_path: Path, store: Store):
    assert store.dataset_for(load_dataset(tiny_data)) == "tiny"
    store.record_click("tiny", "U_live", store.articles("tiny")["news_id"].iloc[0])
    elsewhere = copy(tiny_data, tmp_path / "copied under another name")
    assert store.dataset_for(load_dataset(elsewhere)) == "tiny"
    assert [d["name"] for d in store.datasets()] == ["tiny"]
    assert store.user_exists("tiny", "U_live")


def test_a_regenerated_folder_is_a_new_dataset_and_histories_never_mix(
    tiny_data: Path, world_seed1: Path, tmp_path: Path, store: Store
):
    folder = copy(tiny_data, tmp_path / "demo")
    assert store.dataset_for(load_dataset(folder)) == "demo"
    before = users_with_histories(store, "demo")
    shutil.rmtree(folder)
    copy(world_seed1, folder)  # the same folder, regenerated with another seed

    assert store.dataset_for(load_dataset(folder)) == "demo-2"
    assert store.dataset("demo-2")["fingerprint"] == identity.dataset_fingerprint(world_seed1)
    assert users_with_histories(store, "demo") == before
    reloaded = load_dataset(folder)
    expected = {row for row in zip(reloaded.news.frame["news_id"], reloaded.news.frame["title"])}
    stored = store.articles("demo-2")
    assert set(zip(stored["news_id"], stored["title"])) == expected
    # Ids the two worlds share belong to each world separately: an article added to one is unknown to the other.
    store.add_article("demo-2", {"news_id": "N_only_in_seed1", "title": "Added to the second world"})
    assert store.article("demo", "N_only_in_seed1") is None
    # Back to the first content: the first dataset again, with the folder it now lives in.
    shutil.rmtree(folder)
    copy(tiny_data, folder)
    assert store.dataset_for(load_dataset(folder)) == "demo"


def test_a_moved_folder_is_found_and_its_new_place_recorded(tiny_data: Path, tmp_path: Path, store: Store):
    folder = copy(tiny_data, tmp_path / "old place")
    name = store.dataset_for(load_dataset(folder))
    moved = tmp_path / "new place"
    folder.rename(moved)
    assert store.dataset_for(load_dataset(moved)) == name
    assert store.dataset(name)["path"] == str(moved.resolve())


def test_a_name_given_must_hold_this_content(tiny_data: Path, world_seed1: Path, store: Store):
    assert store.dataset_for(load_dataset(tiny_data), name="mine", exact=True) == "mine"
    assert store.dataset_for(load_dataset(tiny_data), name="other") == "mine"  # a name for new data only
    with pytest.raises(InputError, match="'mine' already holds other data"):
        store.dataset_for(load_dataset(world_seed1), name="mine", exact=True)
    with pytest.raises(InputError, match="^the data of .* is already in the store as dataset 'mine'"):
        store.dataset_for(load_dataset(tiny_data), name="theirs", exact=True)
    store.dataset_for(load_dataset(world_seed1), name="theirs", exact=True)
    with pytest.raises(InputError, match="'theirs' holds other data; the data of .* as dataset 'mine'"):
        store.dataset_for(load_dataset(tiny_data), name="theirs", exact=True)
    store.delete_dataset("theirs")
    assert store.dataset_for(load_dataset(world_seed1), name="mine") == "mine-2"
    with pytest.raises(InputError, match="dataset name"):
        store.dataset_for(load_dataset(tiny_data), name="two words")


def test_a_folder_name_becomes_a_valid_store_name(tiny_data: Path, tmp_path: Path, store: Store):
    folder = copy(tiny_data, tmp_path / "  my data (copy) ")
    name = store.dataset_for(load_dataset(folder))
    assert name == "my_data_copy"
    record = store.dataset(name)
    assert (record["source"], record["preset"], record["seed"]) == ("generated", "tiny", 0)


# --------------------------------------------------------------------------- a store from schema version 1


def make_v1_store(path: Path, imports: dict[str, Path]) -> None:
    """A store as schema version 1 wrote it: datasets keyed by name, with the digest of the rows it imported."""
    with Store(path) as store:
        for name, folder in imports.items():
            store.import_dataset(name, load_dataset(folder), source="imported")
    conn = sqlite3.connect(path)
    legacy = {
        name: _legacy_digest(_dataset_rows(load_dataset(folder)), [str(folder.resolve()), "imported", None, None])
        for name, folder in imports.items()
    }
    rows = conn.execute("SELECT name, path, source, preset, seed, imported_at, summary FROM datasets").fetchall()
    conn.executescript(f"DROP TABLE datasets; DROP TABLE file_digests; {V1_DATASETS}; DROP TABLE comparison_cells; "
                       f"DROP TABLE comparison_metrics; {V1_COMPARISONS};")
    conn.executemany("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(*row, legacy[row[0]]) for row in rows])
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_a_version_1_store_is_upgraded_and_its_datasets_recognised(tiny_data: Path, tmp_path: Path):
    kept = copy(tiny_data, tmp_path / "kept")
    path = tmp_path / "old.db"
    make_v1_store(path, {"kept": kept})
    with Store(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        record = store.dataset("kept")
        assert record["fingerprint"] is None  # not known until its folder is seen again
        articles = len(store.articles("kept"))
        store.record_click("kept", "U_live", store.articles("kept")["news_id"].iloc[0])
        # The folder still holds what was imported: the dataset gets its fingerprint, nothing is imported again.
        assert store.import_dataset("kept", load_dataset(kept), source="imported")["changed"] is False
        assert store.dataset_for(load_dataset(kept)) == "kept"
        assert store.dataset("kept")["fingerprint"] == identity.dataset_fingerprint(kept)
        assert len(store.articles("kept")) == articles
        assert store.user_exists("kept", "U_live")
        assert [d["name"] for d in store.datasets()] == ["kept"]


def test_a_version_1_dataset_whose_folder_was_regenerated_stays_apart(
    tiny_data: Path, world_seed1: Path, tmp_path: Path
):
    folder = copy(tiny_data, tmp_path / "demo")
    path = tmp_path / "old.db"
    make_v1_store(path, {"demo": folder})
    shutil.rmtree(folder)
    copy(world_seed1, folder)
    with Store(path) as store:
        before = users_with_histories(store, "demo")
        assert store.dataset_for(load_dataset(folder)) == "demo-2"
        assert store.dataset("demo")["fingerprint"] is None
        assert users_with_histories(store, "demo") == before


# --------------------------------------------------------------------------- every face resolves it the same way


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(tiny_run, target)
    return target


def set_meta_dataset(run: Path, **entries) -> None:
    meta = json.loads((run / "meta.json").read_text())
    meta["dataset"].update(entries)
    (run / "meta.json").write_text(json.dumps(meta))


def test_serving_finds_the_data_under_the_name_it_already_has(run_copy: Path, tiny_data: Path, tmp_path: Path,
                                                              store: Store, capsys):
    """The dashboard imported the run's data as 'mine'; the CLI's add-article and recommend use 'mine' and never
    import the whole dataset again under the folder's name."""
    assert store.dataset_for(load_dataset(copy(tiny_data, tmp_path / "elsewhere")), name="mine") == "mine"
    argv = ["--run", str(run_copy), "--store", str(store.path)]
    assert main(["add-article", *argv, "--title", "Fresh story", "--id", "N_fresh", "--sample-users", "5"]) == 0
    assert main(["recommend", *argv, "--user", "U_new", "--json"]) == 0
    capsys.readouterr()
    assert [d["name"] for d in store.datasets()] == ["mine"]
    assert store.article("mine", "N_fresh")["title"] == "Fresh story"


def test_serving_imports_new_data_under_the_name_the_run_recorded(run_copy: Path, store: Store, capsys):
    set_meta_dataset(run_copy, store_name="recorded")
    assert main(["recommend", "--run", str(run_copy), "--store", str(store.path), "--user", "U1", "--json"]) == 0
    capsys.readouterr()
    assert [d["name"] for d in store.datasets()] == ["recorded"]


def test_every_command_can_be_given_a_dataset_that_moved(run_copy: Path, tiny_data: Path, tmp_path: Path, capsys):
    moved = copy(tiny_data, tmp_path / "moved")
    set_meta_dataset(run_copy, root=str(tmp_path / "gone"))
    commands = {
        "evaluate": ["evaluate", "--run", run_copy],
        "predict": ["predict", "--run", run_copy, "--split", "dev", "--out", tmp_path / "prediction.txt"],
        "recommend": ["recommend", "--run", run_copy, "--user", "U1"],
        "add-article": ["add-article", "--run", run_copy, "--title", "A title", "--sample-users", "5"],
    }
    for name, argv in commands.items():
        assert main([str(a) for a in argv]) == 2, name
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert "is not there; pass the dataset with --data FOLDER" in error, (name, error)
        assert main([*map(str, argv), "--data", str(moved)]) == 0, name
        capsys.readouterr()
    assert (tmp_path / "prediction.txt").exists()


def test_importing_data_the_store_has_names_the_dataset_it_is(workspace, store: Store, tiny_data: Path):
    first = imports.import_folder(workspace, store, copy(tiny_data, workspace.dataset("first")))
    assert first["dataset"] == "first"
    with pytest.raises(InputError, match="already in the store as dataset 'first'"):
        imports.import_folder(workspace, store, copy(tiny_data, workspace.dataset("second")))
    # The same world generated again is the same data: refused, and its new folder removed.
    generated = imports.generate_dataset(workspace, store, "tiny", 1, "one")
    with pytest.raises(InputError, match="already in the store as dataset 'one'"):
        imports.generate_dataset(workspace, store, "tiny", 1, "again")
    assert not workspace.dataset("again").exists()
    assert sorted(d["name"] for d in store.datasets()) == ["first", "one"]
    assert generated["fingerprint"] == store.dataset("one")["fingerprint"]
