"""LiveService in process: the user-vector cache and its invalidation by clicks from another worker, articles added by
another worker, A/B assignment, the traffic log, following the active run."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from recengine.app import live as live_module
from recengine.app import open_workspace, runs
from recengine.app.live import LiveService
from recengine.errors import InputError
from recengine.serve import traffic


@pytest.fixture(scope="module")
def workers(tiny_run, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """Two services over one store, as two uvicorn workers would be (each its own process state)."""
    workspace, store = open_workspace(tmp_path_factory.mktemp("live-home"))
    _, other_store = open_workspace(workspace.home)
    first = LiveService(workspace, store, tiny_run, cache=tiny_cache)
    second = LiveService(workspace, other_store, tiny_run, cache=tiny_cache)
    yield first, second
    first.close()
    second.close()


@pytest.fixture(scope="module")
def users(workers) -> list[str]:
    return workers[0].store.users(workers[0].dataset)["user_id"].tolist()


def _cache(live: LiveService) -> tuple[int, int]:
    cache = live.services()[0][1].user_cache
    return cache.hits, cache.misses


def _ids(result: dict) -> list[str]:
    return [item["article_id"] for item in result["items"]]


def test_user_vectors_are_cached_until_a_click_from_any_worker(workers, users):
    first, second = workers
    user = users[10]
    hits, misses = _cache(first)
    before = first.recommend(user, 10)
    again = first.recommend(user, 10)
    assert _cache(first) == (hits + 1, misses + 1)
    assert [(i["article_id"], i["score"]) for i in again["items"]] == [(i["article_id"], i["score"]) for i in before["items"]]
    second.record_click(user, _ids(before)[0])  # the other worker: its process, its own cache
    after = first.recommend(user, 10)
    assert _cache(first) == (hits + 1, misses + 2)  # the history read from the store changed: a new key
    assert _ids(before)[0] not in _ids(after)


def test_the_cache_changes_no_answer(workers, users, tiny_run, tiny_cache):
    first, _ = workers
    from recengine.app import serving

    uncached = serving.open_service(first.store, tiny_run, cache=tiny_cache)
    uncached.user_cache.size = 0
    for user in users[20:25]:
        first.recommend(user, 5)
        cached = first.recommend(user, 5)["items"]
        plain = uncached.recommend(user, 5, explain=False)
        assert [(i["article_id"], i["score"]) for i in cached] == [(i["article_id"], i["score"]) for i in plain]
    assert uncached.user_cache.hits == 0


def test_an_article_added_by_another_worker_is_adopted(workers, users, monkeypatch):
    first, second = workers
    size = first.arms[0]["articles"]
    added = second.add_article(title="Central banks raise rates again", category="finance", subcategory="markets")
    monkeypatch.setattr(live_module, "REFRESH_INTERVAL_S", 1e9)
    with pytest.raises(InputError, match="unknown article"):
        first.score(users[0], [added["article_id"]])  # not looked for yet
    monkeypatch.setattr(live_module, "REFRESH_INTERVAL_S", 0.0)
    scored = first.score(users[0], [added["article_id"]])  # the request adopts it first
    assert scored["scores"][0]["article_id"] == added["article_id"]
    assert first.arms[0]["articles"] == second.arms[0]["articles"] == size + 1
    assert first.recommend("U_new_reader", 5, interest_text="Central banks raise rates again")["items"]


def test_a_click_names_an_impression_another_worker_served(workers, users):
    first, second = workers
    shown = first.recommend(users[40], 3)  # queued in the first worker's log, maybe not written yet
    clicked = _ids(shown)[1]
    assert second.record_click(users[40], clicked, impression_id=shown["impression_id"])["impression_id"] \
        == shown["impression_id"]
    second.flush()
    frame = traffic.items(first.store, first.dataset)
    logged = frame[frame["impression_id"] == shown["impression_id"]]
    assert logged.loc[logged["clicked"], "news_id"].tolist() == [clicked]


def test_ab_assignment_is_a_stable_hash_with_the_share(workers):
    first, _ = workers
    assert {first.arm_for(f"u{n}") for n in range(100)} == {"A"}  # no challenger: everyone in A
    fraction = [live_module._fraction(f"ab:u{n}") < 0.2 for n in range(2000)]
    assert 0.17 < sum(fraction) / 2000 < 0.23
    other = [live_module._fraction(f"other:u{n}") < 0.2 for n in range(2000)]
    assert fraction != other  # another experiment name reshuffles users


def test_clicks_and_impressions_are_checked(workers, users):
    first, _ = workers
    shown = first.recommend(users[30], 3)
    with pytest.raises(InputError, match="another user"):
        first.record_click(users[31], _ids(shown)[0], impression_id=shown["impression_id"])
    with pytest.raises(InputError, match="unknown impression"):
        first.record_click(users[31], _ids(shown)[0], impression_id="f" * 32)
    with pytest.raises(InputError, match="not in shown"):
        first.record_impression(users[31], _ids(shown)[:2], [_ids(shown)[2]])
    with pytest.raises(InputError, match="twice"):
        first.record_impression(users[31], [_ids(shown)[0]] * 2)
    with pytest.raises(InputError, match="unknown article"):
        first.record_impression(users[31], ["N_nowhere"])
    first.flush()
    logged = set(traffic.items(first.store, first.dataset)["user_id"])
    assert users[30] in logged and users[31] not in logged  # a refused request logs nothing
    assert first.store.user_history(first.dataset, users[31]) == first.store.user_history(first.dataset, users[31], 500)
    assert _ids(shown)[0] not in first.store.user_history(first.dataset, users[31], 500)


def test_without_logging_nothing_is_logged(tiny_run, tiny_cache, tmp_path: Path):
    workspace, store = open_workspace(tmp_path)
    quiet = LiveService(workspace, store, tiny_run, log=False, cache=tiny_cache)
    try:
        user = store.users(quiet.dataset)["user_id"].iloc[0]
        result = quiet.recommend(user, 3)
        assert result["impression_id"] is None and len(result["items"]) == 3
        assert quiet.record_click(user, _ids(result)[0]) == {"recorded": True, "impression_id": None}
        assert traffic.items(store, quiet.dataset).empty
    finally:
        quiet.close()


def test_bad_setups_fail_before_loading(tmp_path: Path, tiny_run):
    workspace, store = open_workspace(tmp_path)
    with pytest.raises(InputError, match="no active run"):
        LiveService(workspace, store)
    with pytest.raises(InputError, match="share"):
        LiveService(workspace, store, tiny_run, challenger=tiny_run, challenger_share=1.5)


def test_follows_the_active_run(tiny_run, tiny_cache, tmp_path: Path):
    workspace, store = open_workspace(tmp_path)
    runs.activate_run(store, runs.register_run(store, tiny_run)["run_id"])
    live = LiveService(workspace, store, follow_interval_s=0.1, cache=tiny_cache)
    try:
        assert [a["run_id"] for a in live.arms] == ["tiny-run"]
        user = store.users(live.dataset)["user_id"].iloc[0]
        live.recommend(user, 3)
        live.recommend(user, 3)
        assert live.cache_counts() == {"A": (1, 1)}
        copy = shutil.copytree(tiny_run, tmp_path / "tiny-run-2")
        runs.activate_run(store, runs.register_run(store, copy)["run_id"])
        deadline = time.monotonic() + 60
        while live.arms[0]["run_id"] != "tiny-run-2":
            assert time.monotonic() < deadline, live.health()
            time.sleep(0.1)
        assert live.recommend(user, 3)["run_id"] == "tiny-run-2"
        assert live.cache_counts() == {"A": (1, 2)}  # the new run's miss added to the old run's counts
        live.swap("tiny-run")  # an explicit swap stays: only a change of the active run is followed
        time.sleep(1.0)  # ten polls
        assert live.arms[0]["run_id"] == "tiny-run"
    finally:
        live.close()


@pytest.mark.slow  # exports the model to ONNX (seconds of CPU)
def test_onnx_inference_serves_the_same_lists_as_torch(workers, users, tiny_run, tiny_cache):
    first, _ = workers
    onnx = LiveService(first.workspace, first.store, tiny_run, cache=tiny_cache, inference="onnx", log=False)
    try:
        for user in users[:20]:
            expected = first.recommend(user, 10)["items"]
            got = onnx.recommend(user, 10)["items"]
            assert [i["article_id"] for i in got] == [i["article_id"] for i in expected]
            assert [i["score"] for i in got] == pytest.approx([i["score"] for i in expected], abs=2e-3)
    finally:
        onnx.close()


def test_an_unknown_inference_is_refused_before_loading(workers, tiny_run):
    first, _ = workers
    with pytest.raises(InputError, match="inference must be one of torch, onnx, int8"):
        LiveService(first.workspace, first.store, tiny_run, inference="tensorrt", log=False)
