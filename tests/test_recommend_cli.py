"""``python -m recengine recommend``: tables, JSON, live history, cold users, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recengine.cli import main
from recengine.data.mind import load_dataset
from recengine.data.store import Store


@pytest.fixture(scope="module")
def trained(tiny_data, tiny_run, tmp_path_factory: pytest.TempPathFactory):
    """(run folder, home, store file): the session's tiny run (read-only) and this module's own store."""
    root = tmp_path_factory.mktemp("recommend")
    Store(root / "store.db").import_dataset("tiny", load_dataset(tiny_data), source="generated")
    return tiny_run, root / "home", root / "store.db"


@pytest.fixture
def cli(trained, monkeypatch: pytest.MonkeyPatch, capsys):
    """Run ``recommend`` with the module's run and store; returns (exit code, stdout, stderr)."""
    run, home, store = trained
    monkeypatch.setenv("RECENGINE_HOME", str(home))

    def call(*extra: str) -> tuple[int, str, str]:
        code = main(["recommend", "--run", str(run), "--store", str(store), *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def _first_user(store: Path) -> str:
    return Store(store).users("tiny")["user_id"].iloc[0]


def test_table(cli, trained):
    user = _first_user(trained[2])
    code, out, _ = cli("--user", user, "-k", "7")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == f"user {user}: 7 articles (model)"
    assert lines[1].split()[:5] == ["rank", "article", "score", "prob", "top"]
    rows = lines[2:]
    assert len(rows) == 7 and [r.split()[0] for r in rows] == [str(n) for n in range(1, 8)]
    assert all(r.split()[4] in ("id", "text", "graph") for r in rows)


def test_json_reads_the_history_at_request_time(cli, trained):
    user = _first_user(trained[2])
    code, out, _ = cli("--user", user, "-k", "5", "--candidates", "50", "--json")
    items = json.loads(out)
    assert code == 0 and len(items) == 5
    assert {"article_id", "title", "score", "probability", "top_view", "contributions"} <= set(items[0])
    Store(trained[2]).record_click("tiny", user, items[0]["article_id"])
    after = json.loads(cli("--user", user, "-k", "5", "--candidates", "50", "--json")[1])
    assert items[0]["article_id"] not in [i["article_id"] for i in after]


def test_cold_user(cli):
    code, out, _ = cli("--user", "U_brand_new", "-k", "4", "--json")
    assert code == 0 and [i["source"] for i in json.loads(out)] == ["popularity"] * 4
    code, out, _ = cli("--user", "U_brand_new", "-k", "4")
    assert "popularity prior" in out.splitlines()[0]
    code, out, _ = cli("--user", "U_brand_new", "-k", "4", "--json", "--interest", "grand prix pole position")
    assert code == 0 and [i["source"] for i in json.loads(out)] == ["model"] * 4


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-k", "0"], "k must be"),
        (["-k", "1000000000"], "k must be"),
        (["--candidates", "0"], "candidates must be"),
        (["--user", "two words"], "user id"),
        (["--interest", " "], "interest text is empty"),
    ],
)
def test_bad_input(cli, extra, message):
    argv = ["--user", "U1", *extra] if "--user" not in extra else extra
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith("error: ") and message in err and "Traceback" not in err


def test_unknown_run(trained, tmp_path: Path, capsys):
    code = main(["recommend", "--run", str(tmp_path / "missing"), "--user", "U1", "--store", str(tmp_path / "s.db")])
    err = capsys.readouterr().err
    assert code == 2 and "no such run folder" in err and "Traceback" not in err
    assert not (tmp_path / "s.db").exists()
