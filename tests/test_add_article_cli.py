"""``python -m recengine add-article``: tables, JSON, and bad input refused with nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recengine.cli import main
from recengine.data.mind import load_dataset
from recengine.data.store import Store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained(tiny_data, tiny_run, tmp_path_factory: pytest.TempPathFactory):
    """(dataset folder, run folder, home): the session's tiny run (read-only) and this module's own home."""
    return tiny_data, tiny_run, tmp_path_factory.mktemp("add-article") / "home"


@pytest.fixture
def env(trained, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RECENGINE_HOME", str(trained[2]))
    return trained


def test_human_output(env, tmp_path: Path, capsys):
    _, run, _ = env
    store = tmp_path / "store.db"
    code = main(["add-article", "--run", str(run), "--title", "Pit stop drama at the grand prix", "--abstract",
                 "Pole position and a fastest lap", "--category", "sports", "--subcategory", "formula1",
                 "--id", "N_cli_1", "--top-users", "4", "--store", str(store)])
    out = capsys.readouterr().out
    assert code == 0
    assert "added N_cli_1" in out and "zero-shot logits over 160 users" in out
    section = out.split("users it would reach first")[1].split("nearest articles")[0]
    assert len([line for line in section.splitlines() if line.strip()[:1].isdigit()]) == 4
    assert Store(store).article("tiny", "N_cli_1")["title"] == "Pit stop drama at the grand prix"


def test_json_output(env, tmp_path: Path, capsys):
    data, run, _ = env
    entity = load_dataset(data).news.entities[0][0]
    store = tmp_path / "store.db"
    code = main(["add-article", "--run", str(run), "--title", "Central bank holds interest rates",
                 "--entities", entity, "--json", "--store", str(store)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["article_id"].startswith("N_added_") and len(result["top_users"]) == 10
    assert {"user_id", "score", "probability"} <= set(result["top_users"][0])
    assert result["score_summary"]["users"] == 160
    stored = Store(store).article("tiny", result["article_id"])
    assert json.loads(stored["title_entities"])[0]["WikidataId"] == entity


def _refused(capsys, argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in captured.err
    return lines[-1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--title", ""], "title is empty"),
        (["--title", "x" * 100_000], "limit is 1,000"),
        (["--title", "ok", "--id", "EXISTING"], "already exists"),
        (["--title", "ok", "--entities", "Q1,Q2"], "unknown entities"),
        (["--title", "ok", "--top-users", "-1"], "top_users"),
    ],
)
def test_bad_input_writes_nothing(env, tmp_path: Path, capsys, extra, message):
    data, run, _ = env
    existing = str(load_dataset(data).news.ids[0])
    store = tmp_path / "store.db"
    argv = ["add-article", "--run", str(run), "--store", str(store), *[existing if a == "EXISTING" else a for a in extra]]
    assert message in _refused(capsys, argv)
    assert not store.exists() or Store(store).added_articles("tiny").empty


def test_unknown_run(env, tmp_path: Path, capsys):
    line = _refused(capsys, ["add-article", "--run", str(tmp_path / "nope"), "--title", "ok",
                             "--store", str(tmp_path / "store.db")])
    assert "no such run folder" in line
    assert not (tmp_path / "store.db").exists()


def test_an_added_id_is_refused_the_second_time(env, tmp_path: Path, capsys):
    """The second command loads the first one's article from the store and refuses its id."""
    _, run, _ = env
    store = tmp_path / "store.db"
    argv = ["add-article", "--run", str(run), "--title", "Grand prix", "--id", "N_twice", "--json", "--store", str(store)]
    assert main(argv) == 0
    capsys.readouterr()
    assert _refused(capsys, argv) == "error: article id 'N_twice' already exists"
    assert Store(store).added_articles("tiny")["news_id"].tolist() == ["N_twice"]


def test_exit_status_of_a_real_process(env, tmp_path: Path):
    _, run, home = env
    argv = [sys.executable, "-m", "recengine", "add-article", "--run", str(run), "--title", " ",
            "--store", str(tmp_path / "store.db")]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env={**os.environ, "RECENGINE_HOME": str(home)})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: the title is empty\n"
    assert not (tmp_path / "store.db").exists()
