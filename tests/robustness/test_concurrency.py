"""Two dashboard sessions at once: the same library calls the pages make (recengine.app, RecommenderService),
from two threads at the same moment, over one workspace and one store. Afterwards every row and every run folder
is checked: nothing lost, nothing doubled, nothing mixed."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.imports import import_folder
from recengine.data.store import Store
from recengine.errors import InputError, RecengineError
from recengine.serve.service import RecommenderService
from recengine.train.runs import load_run
from recengine.app import runs as app_runs
from recengine.workspace import Workspace
from .conftest import REPO, assert_one_line_error, run_cli, subprocess_env


def together(*calls):
    """Run the calls in threads released at the same instant; returns their results or exceptions, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def body(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return results


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def workspace(home: Path, tiny_data: Path) -> Workspace:
    """An empty workspace with the tiny dataset imported (as the Data page would)."""
    workspace = Workspace(home)
    shutil.copytree(tiny_data, workspace.dataset("tiny"))
    with Store(workspace.store_path) as store:
        import_folder(workspace, store, "tiny")
    return workspace


def test_two_sessions_training_at_once_get_two_whole_runs(workspace: Workspace, tiny_cache):
    """Two trainings with the same fusion started in the same second (run ids are named by the second) must not
    get the same run id, write one folder twice or overwrite each other's store row."""
    stores = [Store(workspace.store_path), Store(workspace.store_path)]  # one per session, as two servers would
    configs = [RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1, seed=seed)) for seed in (1, 2)]
    results = together(*[
        lambda s=store, c=config: app_runs.train(workspace, s, "tiny", c) for store, config in zip(stores, configs)
    ])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    (id_a, trained_a), (id_b, trained_b) = [(r["run_id"], r) for r in results]
    assert id_a != id_b
    with Store(workspace.store_path) as store:
        records = {r["run_id"]: r for r in store.runs("tiny")}
        assert set(records) == {id_a, id_b}
        for run_id, seed, trained in ((id_a, 1, trained_a), (id_b, 2, trained_b)):
            folder = workspace.run(run_id)
            assert records[run_id]["path"] == str(folder.resolve())
            assert records[run_id]["config"]["train"]["seed"] == seed
            assert json.loads((folder / "config.json").read_text())["train"]["seed"] == seed
            assert records[run_id]["metrics"]["model"] == trained["metrics"]["model"]
            assert load_run(folder, cache=tiny_cache).recommender.config.train.seed == seed
    assert sorted(p.name for p in workspace.runs.iterdir() if not p.name.startswith(".")) == sorted([id_a, id_b])
    assert integrity(workspace.store_path) == "ok"
    for store in stores:
        store.close()


def test_two_services_adding_articles_at_once(workspace: Workspace, tiny_run: Path, tiny_cache):
    """Two recommender services (two dashboard servers) over one store: started together, then adding articles at
    the same time, both trying one id. Each article is stored exactly once, the shared id by exactly one of them,
    and a service started afterwards serves every one."""
    def service() -> RecommenderService:
        return RecommenderService(tiny_run, Store(workspace.store_path), "tiny", cache=tiny_cache)

    started = together(service, service)
    assert not [s for s in started if isinstance(s, BaseException)], started
    one, two = started

    def add(svc: RecommenderService, prefix: str) -> list:
        outcomes = []
        for n in range(4):
            outcomes.append(svc.add_article(title=f"{prefix} story number {n}", article_id=f"N_{prefix}{n}",
                                            sample_users=20)["article_id"])
        try:
            svc.add_article(title=f"Shared story from {prefix}", article_id="N_shared", sample_users=20)
            outcomes.append("N_shared")
        except InputError as exc:
            assert "already exists" in str(exc)
        return outcomes

    added = together(lambda: add(one, "one"), lambda: add(two, "two"))
    assert not [a for a in added if isinstance(a, BaseException)], added
    assert sum("N_shared" in a for a in added) == 1
    with Store(workspace.store_path) as store:
        rows = store.added_articles("tiny")
        expected = {f"N_{p}{n}" for p in ("one", "two") for n in range(4)} | {"N_shared"}
        assert sorted(rows["news_id"]) == sorted(expected)  # each exactly once
        shared = store.article("tiny", "N_shared")
        winner = "one" if "N_shared" in added[0] else "two"
        assert shared["title"] == f"Shared story from {winner}"
        assert store.db["articles"].count == 600 + len(expected)
    for svc, own in ((one, added[0]), (two, added[1])):
        assert len(svc.index) == len(svc.catalog)
        assert set(own) <= set(svc.catalog.articles.ids)
    later = service()
    assert expected <= set(later.catalog.articles.ids)
    user = later.store.users("tiny")["user_id"].iloc[0]
    assert len(later.recommend(user, k=5)) == 5
    assert integrity(workspace.store_path) == "ok"


# --------------------------------------------------------------------------- the lock promise

# Another program holding the store's write lock until told to let go (stdin), or for a number of seconds.
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2])) if len(sys.argv) > 2 else sys.stdin.readline()
conn.execute("ROLLBACK")
"""
# A recengine process in a long write, which leaves a note saying what it does (as an import does).
NOTED_HOLDER = """
import sys
from recengine.data.store import Store
with Store(sys.argv[1])._transaction(note="importing dataset 'big' from /data/big"):
    print("holding", flush=True)
    sys.stdin.readline()
"""


def hold(path: Path, code: str, *args: str) -> subprocess.Popen:
    """Start a process that holds the write lock of the store at ``path``; returns once it holds it."""
    holder = subprocess.Popen([sys.executable, "-c", code, str(path), *args], cwd=REPO, env=subprocess_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding", holder.stderr.read()
    return holder


def release(holder: subprocess.Popen) -> None:
    _, err = holder.communicate("go\n", timeout=60)
    assert holder.returncode == 0, err


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with Store(path) as store:
        store.set_setting("value", 0)
    return path


def test_a_writer_waits_for_another_to_finish(store_path: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_STORE_TIMEOUT", "60")
    holder = hold(store_path, HOLDER, "1.5")
    with Store(store_path) as store:
        store.set_setting("value", 1)  # queued behind the holder, then written
        assert store.get_setting("value") == 1
    holder.wait(timeout=60)


def test_a_writer_waits_the_stated_time_then_says_the_store_is_busy(store_path: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_STORE_TIMEOUT", "1")
    holder = hold(store_path, HOLDER)
    try:
        with Store(store_path) as store:
            started = time.monotonic()
            with pytest.raises(RecengineError) as caught:
                store.set_setting("value", 1)
            waited = time.monotonic() - started
            assert store.get_setting("value") == 0  # reading never waits
    finally:
        release(holder)
    message = str(caught.value)
    assert message.startswith(f"{store_path}: the store is busy: another writer kept it for over 1 s")
    assert "left no note" in message and "RECENGINE_STORE_TIMEOUT" in message and "\n" not in message
    assert waited >= 0.9  # it did wait the stated time before giving up
    with Store(store_path) as store:
        store.set_setting("value", 2)
        assert store.get_setting("value") == 2


def test_a_busy_store_names_the_recengine_process_holding_it(store_path: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_STORE_TIMEOUT", "0.5")
    holder = hold(store_path, NOTED_HOLDER)
    try:
        with Store(store_path) as store, pytest.raises(RecengineError) as caught:
            store.set_setting("value", 1)
    finally:
        release(holder)
    assert f"held by process {holder.pid}, importing dataset 'big' from /data/big, since " in str(caught.value)
    assert not (store_path.parent / "store.db-writer").exists()  # the holder took its note away


def test_the_cli_gives_up_on_a_busy_store_with_one_line(store_path: Path, tiny_run: Path, tiny_cache):
    holder = hold(store_path, HOLDER)
    try:
        done = run_cli("recommend", "--run", tiny_run, "--user", "U1", "--store", store_path,
                       "--cache", tiny_cache.folder, env=subprocess_env(RECENGINE_STORE_TIMEOUT="1"))
    finally:
        release(holder)
    assert_one_line_error(done.code, done.err, str(store_path), "the store is busy", "over 1 s")
