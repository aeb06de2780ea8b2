"""Two dashboard sessions at once: the same library calls the pages make (recengine.ui_support, RecommenderService),
from two threads at the same moment, over one workspace and one store. Afterwards every row and every run folder
is checked: nothing lost, nothing doubled, nothing mixed."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.imports import import_folder
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.serve.service import RecommenderService
from recengine.train.runs import load_run
from recengine.ui_support import train_and_register
from recengine.workspace import Workspace


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
        lambda s=store, c=config: train_and_register(workspace, s, "tiny", c) for store, config in zip(stores, configs)
    ])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    (id_a, trained_a), (id_b, trained_b) = results
    assert id_a != id_b
    with Store(workspace.store_path) as store:
        records = {r["run_id"]: r for r in store.runs("tiny")}
        assert set(records) == {id_a, id_b}
        for run_id, seed, trained in ((id_a, 1, trained_a), (id_b, 2, trained_b)):
            folder = workspace.run(run_id)
            assert records[run_id]["path"] == str(folder.resolve())
            assert records[run_id]["config"]["train"]["seed"] == seed
            assert json.loads((folder / "config.json").read_text())["train"]["seed"] == seed
            assert records[run_id]["metrics"]["model"] == trained.metrics["model"]
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
