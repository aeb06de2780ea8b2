"""benchmarks/http_load.py against a real `recengine serve` on a free loopback port (tiny run, hashing)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from benchmark_kit import benchmark_module

from recengine.app import runs
from recengine.data.store import Store

http_load = benchmark_module("http_load")


@pytest.fixture(scope="module")
def workspace_with_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace whose store records the session's tiny run: (home, run id)."""
    home = tmp_path_factory.mktemp("load-home")
    with Store(home / "recengine.db") as store:
        run_id = runs.register_run(store, tiny_run)["run_id"]
    return home, run_id


@pytest.fixture(scope="module")
def server(workspace_with_run, tmp_path_factory: pytest.TempPathFactory):
    """A real server on a copy of that workspace's store."""
    from _http import Server, copy_store

    home, run_id = workspace_with_run
    copy = tmp_path_factory.mktemp("server-home")
    copy_store(home / "recengine.db", copy)
    with Server(copy, ["--run", run_id]) as running:
        yield running


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_load_benchmark_reports_every_level_without_errors_and_leaves_the_workspace_alone(
        workspace_with_run, capsys: pytest.CaptureFixture):
    home, run_id = workspace_with_run
    before = _digest(home / "recengine.db")
    status = http_load.main(["--run", run_id, "--home", str(home), "--levels", "1,4", "--requests", "120",
                             "--seconds", "3", "--warmup", "10"])
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [level["clients"] for level in result["levels"]] == [1, 4]
    for level in result["levels"]:
        assert level["errors"] == 0, level["error_examples"]
        assert 0 < level["requests"] <= 120
        assert level["throughput_rps"] > 0
        latency = level["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        rss = level["server_rss_mb"]
        assert 0 < rss["start"] <= rss["peak"] and rss["end"] <= rss["peak"]
        assert level["client_cpu_share"] >= 0 and level["server_cpu_share"] > 0
    assert result["target"]["met"] is None  # no 32-client level was run
    assert result["users"] > 0 and result["health"]["arms"][0]["run_id"] == run_id
    assert _digest(home / "recengine.db") == before  # the traffic went into the copy


def test_the_load_client_counts_refused_requests_and_short_lists_as_errors(server):
    users = ["U_someone"]
    refused = http_load.Level(server.port, users, clients=2, requests=6, seconds=30, k=0, seed=0)
    asyncio.run(refused.run())
    assert refused.finished == 6 and len(refused.errors) == 6
    assert all("HTTP 422" in error or "HTTP 400" in error for error in refused.errors)

    # A well-formed answer with fewer items than asked is an error too.
    short = http_load.Level(server.port, users, clients=1, requests=1, seconds=30, k=10, seed=0)
    short._check("/x", 200, json.dumps({"items": [{}] * 9}).encode())
    short._check("/y", 200, json.dumps({"items": [{}] * 10}).encode())
    assert short.errors == ["/x: 9 items instead of 10"]


def test_the_asyncio_connection_keeps_one_socket_alive_across_requests(server):
    from _http import Connection

    async def three() -> list[tuple[int, dict]]:
        connection = await Connection.open(server.port)
        try:
            answers = []
            for _ in range(3):
                status, body = await connection.request("GET", "/health")
                answers.append((status, json.loads(body)))
            status, body = await connection.request("POST", "/v1/clicks", b'{"user_id": ')
            answers.append((status, json.loads(body)))
            return answers
        finally:
            await connection.close()

    answers = asyncio.run(three())
    assert [status for status, _ in answers[:3]] == [200, 200, 200]
    assert all(body["status"] == "ok" for _, body in answers[:3])
    assert answers[3][0] in (400, 422) and set(answers[3][1]) == {"error"}
