"""The HTTP service over real HTTP: uvicorn on a free loopback port serving a tiny run in two arms, called with httpx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import uvicorn

from recengine.app import open_workspace
from recengine.app.live import LiveService
from recengine.data.world_vocab import TOPIC_WORDS_V3
from recengine.http import create_app
from recengine.serve import traffic

REPO = Path(__file__).resolve().parent.parent
# what the default (v3) world writes its training articles from
TRAIN_WORDS = {sub: pools[0] for sub, pools in TOPIC_WORDS_V3.items()}
RECOMMEND = "/v1/users/{}/recommendations"


class Served:
    """A LiveService behind uvicorn in a thread, on a port the OS picked."""

    def __init__(self, live: LiveService):
        self.live = live
        sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(live), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def close(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.live.close()


@pytest.fixture(scope="module")
def served(tiny_run, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """The tiny run in both arms (B gets half the users) over a store of the module's own."""
    workspace, store = open_workspace(tmp_path_factory.mktemp("http-home"))
    live = LiveService(workspace, store, tiny_run, challenger=tiny_run, challenger_share=0.5, cache=tiny_cache)
    served = Served(live)
    yield served
    served.close()


@pytest.fixture(scope="module")
def client(served) -> httpx.Client:
    return served.client


@pytest.fixture(scope="module")
def users(served) -> list[str]:
    return served.live.store.users(served.live.dataset)["user_id"].tolist()


def _logged(live: LiveService, impression_id: str):
    live.flush()
    frame = traffic.items(live.store, live.dataset)
    return frame[frame["impression_id"] == impression_id]


def _one_line_error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    message = body["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


def _articles_of(live: LiveService, subcategory: str) -> list[str]:
    frame = live.services()[0][1].catalog.frame
    return frame.loc[frame["subcategory"] == subcategory, "news_id"].tolist()


def _entities_of(live: LiveService, subcategory: str, n: int = 2) -> list[str]:
    """The entities the subcategory's articles mention most."""
    news = live.services()[0][1].run.dataset.news
    mentions = Counter(e for a in _articles_of(live, subcategory) if a in news.position
                       for e in news.entities[news.position[a]])
    return [e for e, _ in mentions.most_common(n)]


# --------------------------------------------------------------------------- endpoints


def test_health_names_both_arms(client, served):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["dataset"] == served.live.dataset
    assert [a["arm"] for a in body["arms"]] == ["A", "B"]
    assert [a["share"] for a in body["arms"]] == [0.5, 0.5]
    assert all(a["articles"] >= 600 and a["run_id"] == "tiny-run" for a in body["arms"])


def test_recommend_returns_k_items_and_logs_the_impression(client, served, users):
    user = users[3]
    response = client.get(RECOMMEND.format(user), params={"k": 7})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == user and body["arm"] == served.live.arm_for(user) and body["run_id"] == "tiny-run"
    items = body["items"]
    assert len(items) == 7 and len({i["article_id"] for i in items}) == 7
    assert all(set(i) == {"article_id", "title", "category", "subcategory", "score", "probability", "source", "reason",
                          "new"}
               for i in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    logged = _logged(served.live, body["impression_id"])
    assert logged["news_id"].tolist() == [i["article_id"] for i in items]
    assert set(logged["origin"]) == {"served"} and set(logged["arm"]) == {body["arm"]}
    assert set(logged["user_id"]) == {user} and not logged["clicked"].any()
    # new = the run had not trained on it: the dataset's dev-only (day 6) articles
    trained = served.live.services()[0][1].recommender.trained_articles()
    position = served.live.services()[0][1].catalog.articles.position
    assert [i["new"] for i in items] == [not trained[position[i["article_id"]]] for i in items]


def test_explain_adds_view_contributions(client, users):
    items = client.get(RECOMMEND.format(users[4]), params={"k": 3, "explain": "true"}).json()["items"]
    assert all(i["contributions"] and i["top_view"] in i["contributions"] for i in items)


def test_a_click_changes_the_next_recommendation_and_marks_the_logged_item(client, served, users):
    user = users[5]
    first = client.get(RECOMMEND.format(user), params={"k": 10}).json()
    clicked = first["items"][0]["article_id"]
    response = client.post("/v1/clicks", json={"user_id": user, "article_id": clicked})
    assert response.status_code == 200
    assert response.json() == {"recorded": True, "impression_id": first["impression_id"]}
    assert served.live.store.user_history(served.live.dataset, user)[-1] == clicked
    second = client.get(RECOMMEND.format(user), params={"k": 10}).json()
    assert clicked not in [i["article_id"] for i in second["items"]]  # read now, so excluded at once
    logged = _logged(served.live, first["impression_id"])
    assert logged.loc[logged["clicked"], "news_id"].tolist() == [clicked]


def test_click_names_its_impression(client, served, users):
    user = users[6]
    shown = client.get(RECOMMEND.format(user), params={"k": 4}).json()
    target = shown["items"][2]["article_id"]
    response = client.post("/v1/clicks", json={"user_id": user, "article_id": target,
                                               "impression_id": shown["impression_id"]})
    assert response.json()["impression_id"] == shown["impression_id"]
    logged = _logged(served.live, shown["impression_id"])
    assert logged.loc[logged["clicked"], "position"].tolist() == [2]


def test_added_article_is_served_at_once_in_both_arms(client, served):
    live = served.live
    before = [a["articles"] for a in client.get("/health").json()["arms"]]
    frame = live.services()[0][1].catalog.frame
    topic = frame["subcategory"].value_counts().index[0]
    words = TRAIN_WORDS[topic]
    response = client.post("/v1/articles", json={
        "article_id": "N_http_f1", "title": f"{words[0].capitalize()} and {words[1]}: the {words[2]} nobody expected",
        "abstract": f"Fans of {words[3]} and {words[4]} talk about {words[5]}.",
        "category": frame.loc[frame["subcategory"] == topic, "category"].iloc[0],
        "subcategory": topic, "entities": _entities_of(live, topic),
    })
    assert response.status_code == 201, response.text
    assert response.json()["article_id"] == "N_http_f1"
    after = [a["articles"] for a in client.get("/health").json()["arms"]]
    assert after == [n + 1 for n in before]
    assert live.store.article(live.dataset, "N_http_f1")["source"] == "added"  # stored once, for every arm
    # a reader of the topic, in each arm, gets it in their next list
    fans = {}
    for n in range(200):
        fans.setdefault(live.arm_for(f"U_f1_fan{n}"), f"U_f1_fan{n}")
    assert set(fans) == {"A", "B"}
    for arm, fan in fans.items():
        for article in _articles_of(live, topic)[:10]:
            assert client.post("/v1/clicks", json={"user_id": fan, "article_id": article}).status_code == 200
        body = client.get(RECOMMEND.format(fan), params={"k": 50}).json()  # top 50 of ~600 (see test_serve)
        assert body["arm"] == arm
        added = [i for i in body["items"] if i["article_id"] == "N_http_f1"]
        assert added and added[0]["new"] is True
        scored = client.post(f"/v1/users/{fan}/scores", json={"article_ids": ["N_http_f1"]}).json()
        assert scored["arm"] == arm and scored["scores"][0]["article_id"] == "N_http_f1"
    duplicate = client.post("/v1/articles", json={"article_id": "N_http_f1", "title": "Again"})
    assert duplicate.status_code == 409 and "N_http_f1" in _one_line_error(duplicate)


def test_scores_follow_the_given_order(client, served, users):
    ids = _articles_of(served.live, "tennis")[:5][::-1]
    response = client.post(f"/v1/users/{users[7]}/scores", json={"article_ids": ids})
    assert response.status_code == 200
    scores = response.json()["scores"]
    assert [s["article_id"] for s in scores] == ids
    assert all(isinstance(s["score"], float) and 0 < s["probability"] < 1 for s in scores)
    # the same numbers as the recommender's own rerank of those articles for that user
    listed = {i["article_id"]: i["score"] for i in
              client.get(RECOMMEND.format(users[7]), params={"k": 100, "candidates": 2000}).json()["items"]}
    common = [s for s in scores if s["article_id"] in listed]
    assert all(abs(s["score"] - listed[s["article_id"]]) < 1e-3 for s in common)


def test_reported_impression_is_logged_with_its_clicks(client, served, users):
    user = users[8]
    shown = _articles_of(served.live, "tennis")[:4]
    response = client.post("/v1/impressions", json={"user_id": user, "shown": shown, "clicked": [shown[1]]})
    assert response.status_code == 201
    logged = _logged(served.live, response.json()["impression_id"])
    assert logged["news_id"].tolist() == shown and set(logged["origin"]) == {"reported"}
    assert logged["clicked"].tolist() == [False, True, False, False]
    assert served.live.store.user_history(served.live.dataset, user)[-1] == shown[1]


def test_metrics_count_requests_and_describe_the_arms(client, users):
    for _ in range(3):
        client.get(RECOMMEND.format(users[9]), params={"k": 5})
    client.get(RECOMMEND.format(users[9]), params={"k": 0})
    text = client.get("/metrics").text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    route = 'endpoint="/v1/users/{user_id}/recommendations"'
    assert samples[f'recengine_requests_total{{{route},status="200"}}'] >= 3
    assert samples[f'recengine_requests_total{{{route},status="422"}}'] >= 1
    assert samples[f'recengine_request_seconds_count{{{route}}}'] >= 4
    assert samples['recengine_serving_run_info{arm="A",run_id="tiny-run"}'] == 1
    assert samples['recengine_index_articles{arm="B"}'] >= 600
    hits = sum(v for k, v in samples.items() if k.startswith("recengine_user_vector_cache_hits_total"))
    misses = sum(v for k, v in samples.items() if k.startswith("recengine_user_vector_cache_misses_total"))
    assert hits >= 2 and misses >= 1  # the same user three times: computed once, then cached


@pytest.mark.parametrize(("method", "path", "payload", "status", "names"), [
    ("get", RECOMMEND.format("U1") + "?k=0", None, 422, "k"),
    ("get", RECOMMEND.format("U1") + "?k=1000", None, 422, "k"),
    ("get", RECOMMEND.format("U1") + "?candidates=abc", None, 422, "candidates"),
    ("post", "/v1/articles", {"title": ""}, 422, "title"),
    ("post", "/v1/articles", {"title": "   "}, 422, "title"),
    ("post", "/v1/articles", {"title": "ok", "titel": "typo"}, 422, "titel"),
    ("post", "/v1/articles", {"title": "ok", "entities": ["Q_not_in_graph"]}, 400, "Q_not_in_graph"),
    ("post", "/v1/users/U1/scores", {"article_ids": ["N_nowhere"]}, 400, "N_nowhere"),
    ("post", "/v1/users/U1/scores", {"article_ids": []}, 422, "article_ids"),
    ("post", "/v1/clicks", {"user_id": "U1", "article_id": "N_nowhere"}, 400, "N_nowhere"),
    ("post", "/v1/clicks", {"user_id": "U1", "article_id": "N10001", "impression_id": "nope"}, 400, "nope"),
    ("post", "/v1/impressions", {"user_id": "U1", "shown": ["N10001"], "clicked": ["N10002"]}, 400, "N10002"),
    ("post", "/admin/swap", {"run": "no-such-run"}, 400, "no-such-run"),
    ("post", "/admin/swap", {"run": "x", "arm": "C"}, 422, "arm"),
    ("get", "/v1/nothing-here", None, 404, "Not Found"),
    ("get", "/v1/monitor?hours=-1", None, 422, "hours"),
])
def test_bad_input_gets_a_4xx_with_one_line(client, method, path, payload, status, names):
    response = client.request(method.upper(), path, json=payload)
    assert response.status_code == status, response.text
    assert names in _one_line_error(response)


def test_malformed_json_is_a_422(client):
    response = client.post("/v1/clicks", content=b'{"user_id": "U1",', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "malformed JSON" in _one_line_error(response)


def test_a_bug_is_a_500_without_a_traceback(client, served, monkeypatch):
    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(served.live, "health", broken)
    response = client.get("/health")
    assert response.status_code == 500 and _one_line_error(response) == "internal error"


def test_monitor_reports_the_logged_traffic(client):
    response = client.get("/v1/monitor", params={"hours": 1})
    assert response.status_code == 200 and {"new", "old", "arms"} <= set(response.json())


# --------------------------------------------------------------------------- swap and A/B


def test_swap_under_load_drops_no_request(client, served, tiny_run, users):
    errors, done = Counter(), threading.Event()

    def fire(n: int) -> None:
        with httpx.Client(base_url=served.url, timeout=30) as own:
            i = 0
            while not done.is_set():
                response = own.get(RECOMMEND.format(users[(n * 50 + i) % len(users)]), params={"k": 5})
                errors["ok" if response.status_code == 200 and len(response.json()["items"]) == 5 else "bad"] += 1
                i += 1

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        swaps = [client.post("/admin/swap", json={"run": str(tiny_run), "arm": arm}) for arm in ("A", "B")]
        time.sleep(0.3)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert [s.status_code for s in swaps] == [200, 200]
    assert [s.json()["previous_run_id"] for s in swaps] == ["tiny-run", "tiny-run"]
    assert errors["bad"] == 0 and errors["ok"] > 10


def test_ab_arms_are_stable_and_the_share_is_honoured(client, served):
    live = served.live
    arms = [live.arm_for(f"user{n}") for n in range(1000)]
    assert 0.44 < arms.count("B") / 1000 < 0.56  # 0.5 +- 3.8 binomial standard deviations
    assert arms == [live.arm_for(f"user{n}") for n in range(1000)]
    for n in range(0, 40, 4):
        got = {client.get(RECOMMEND.format(f"user{n}"), params={"k": 1}).json()["arm"] for _ in range(2)}
        assert got == {arms[n]}


# --------------------------------------------------------------------------- the command


def _cli(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "recengine", "serve", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_command_with_a_bad_run_exits_2_with_one_line(home: Path):
    process = _cli("--run", str(home / "missing-run"), "--port", "0", env=dict(os.environ))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "missing-run" in lines[-1] and "Traceback" not in err


@pytest.mark.slow  # a process that loads torch and the run: ~10 s on a quiet machine
def test_serve_command_serves_the_active_run(home: Path, tiny_run, tiny_cache):
    from recengine.app import runs

    _, store = open_workspace(home)
    record = runs.register_run(store, tiny_run)
    runs.activate_run(store, record["run_id"])
    process = _cli("--port", "0", "--log-level", "warning", "--cache", str(tiny_cache.folder),
                   env=dict(os.environ, RECENGINE_HOME=str(home)))
    try:
        line = process.stdout.readline()
        assert line.startswith("serving A=tiny-run on http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" on ")[1].strip()
        health = httpx.get(f"{url}/health", timeout=30).json()
        assert [a["run_id"] for a in health["arms"]] == ["tiny-run"]
        user = store.users(health["dataset"])["user_id"].iloc[0]
        shown = httpx.get(f"{url}{RECOMMEND.format(user)}", params={"k": 3}, timeout=30).json()
    finally:
        process.send_signal(signal.SIGTERM)  # what a service manager sends
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in stderr and health["status"] == "ok"
    logged = traffic.items(store, health["dataset"])  # the log's queue was written on the way out
    assert logged["impression_id"].tolist() == [shown["impression_id"]] * 3
