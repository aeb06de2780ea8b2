"""`python -m recengine data check|generate`: exit codes, JSON on stdout, one-line errors on stderr.

A few cases run the real command as a subprocess; the rest call ``recengine.cli.main`` in-process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recengine.cli import main

REPO = Path(__file__).resolve().parent.parent

NEWS = [
    "N1\tnews\tnewsus\tMayor opens the bridge\tThe new bridge opened.\thttps://example.org/N1\t"
    '[{"Label": "Ava Kenlo", "Type": "P", "WikidataId": "Q1", "Confidence": 1.0, "OccurrenceOffsets": [], "SurfaceForms": []}]\t[]',
    "N2\tsports\tgolf\tBirdie on the last hole\t\thttps://example.org/N2\t[]\t[]",
    "N3\tnews\tnewsworld\tEnvoys meet at the summit\tTalks went on.\thttps://example.org/N3\t[]\t[]",
]
BEHAVIORS = [
    "1\tU1\t11/12/2019 2:14:46 PM\tN1 N2\tN3-1 N2-0",
    "2\tU2\t11/12/2019 3:14:46 AM\t\tN1-0 N3-1 N7-0",
    "3\tU1\t11/13/2019 12:00:00 PM\tN3 N8\tN1-1 N2-0",
]


def write_folder(folder: Path, news: list[str] | bytes = NEWS, behaviors: list[str] | bytes = BEHAVIORS) -> Path:
    folder.mkdir(parents=True)
    for name, content in (("news.tsv", news), ("behaviors.tsv", behaviors)):
        data = content if isinstance(content, bytes) else "".join(line + "\n" for line in content).encode()
        (folder / name).write_bytes(data)
    return folder


def replace_line(lines: list[str], number: int, line: str) -> list[str]:
    return [line if i == number else old for i, old in enumerate(lines, start=1)]


# name -> (folder builder arguments, file, line, kind, words in the message)
BAD = {
    "wrong-columns": (dict(news=replace_line(NEWS, 2, "N2\tsports\tgolf")), "news.tsv", 2, "wrong_columns",
                      "expected 8 tab-separated columns, found 3"),
    "bad-label": (dict(behaviors=replace_line(BEHAVIORS, 3, "3\tU1\t11/13/2019 12:00:00 PM\tN3\tN1-x N2-0")),
                  "behaviors.tsv", 3, "bad_label", "bad label in 'N1-x'"),
    "bad-time": (dict(behaviors=replace_line(BEHAVIORS, 2, "2\tU2\t13/45/2019 1:00:00 PM\t\tN1-0 N3-1")),
                 "behaviors.tsv", 2, "bad_time", "bad time '13/45/2019 1:00:00 PM'"),
    "not-utf8": (dict(news=b"\n".join(line.encode() for line in NEWS[:2]) + b"\n" + NEWS[2].encode().replace(b"summit", b"s\xffmmit") + b"\n"),
                 "news.tsv", 3, "not_utf8", "not UTF-8"),
    "duplicate-impression": (dict(behaviors=replace_line(BEHAVIORS, 3, BEHAVIORS[2].replace("3\t", "1\t", 1))),
                             "behaviors.tsv", 3, "duplicate_impression", "impression id 1 repeats (first at line 1)"),
    "duplicate-article": (dict(news=NEWS + [NEWS[0].replace("Mayor opens", "Mayor closes")]), "news.tsv", 4,
                          "duplicate_id", "article N1 appears again with different content"),
    "entity-json": (dict(news=replace_line(NEWS, 1, NEWS[0].replace('[]}]', '[]}'))), "news.tsv", 1,
                    "bad_entities", "entity column is not valid JSON"),
}
SUBPROCESS_CASES = ("wrong-columns", "not-utf8")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RECENGINE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "recengine", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def in_process(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --------------------------------------------------------------------------- data check on good data


def test_check_mind_sample_json(mind_sample: Path) -> None:
    news_ids = {line.split("\t")[0] for line in (mind_sample / "news.tsv").read_text().splitlines()}
    referenced: set[str] = set()
    for line in (mind_sample / "behaviors.tsv").read_text().splitlines():
        columns = line.split("\t")
        referenced.update(columns[3].split())
        referenced.update(t.rsplit("-", 1)[0] for t in columns[4].split())
    result = run_cli("data", "check", str(mind_sample), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    train = summary["splits"]["train"]
    assert (train["articles"], train["impressions"], train["empty_histories"]) == (2000, 5000, 107)
    assert train["missing_article_ids"] == len(referenced - news_ids)
    assert summary["skipped_rows"] == 0 and summary["skipped_by_kind"] == {} and summary["warnings"] == []
    assert summary["has_truth"] is False


def test_check_mind_sample_table(mind_sample: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = in_process(capsys, "data", "check", str(mind_sample))
    assert code == 0 and err == ""
    assert "articles" in out and "2,000" in out and "5,000" in out
    assert any(line.startswith("impressions with an empty history") and line.rstrip().endswith("107") for line in out.splitlines())
    assert "skipped rows: 0" in out


def test_check_good_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_folder(tmp_path / "good")
    code, out, err = in_process(capsys, "data", "check", str(folder), "--json", "--strict")
    assert code == 0 and err == ""
    train = json.loads(out)["splits"]["train"]
    assert (train["articles"], train["impressions"], train["candidates"], train["clicks"]) == (3, 3, 7, 3)
    assert train["missing_article_ids"] == 2  # N7 and N8
    assert train["empty_histories"] == 1


def test_check_synthetic_dataset_reports_both_splits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "3", "--out", str(tmp_path / "d"))[0] == 0
    code, out, err = in_process(capsys, "data", "check", str(tmp_path / "d"), "--json", "--strict")
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert list(summary["splits"]) == ["train", "dev"] and summary["has_truth"] is True
    assert summary["impressions"] == 900 + 300


# --------------------------------------------------------------------------- data check on bad data


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_strict_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    build, file, line, _, says = BAD[name]
    folder = write_folder(tmp_path / name, **build)
    if name in SUBPROCESS_CASES:
        result = run_cli("data", "check", str(folder), "--strict")
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        code, out, err = in_process(capsys, "data", "check", str(folder), "--strict")
    assert code == 2
    assert out == ""
    assert_one_line_error(err, f"{folder / file}:{line}: ", says)


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_default_skips_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    build, file, line, kind, says = BAD[name]
    folder = write_folder(tmp_path / name, **build)
    if name in SUBPROCESS_CASES:
        result = run_cli("data", "check", str(folder), "--json")
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        code, out, err = in_process(capsys, "data", "check", str(folder), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["skipped_rows"] == 1 and summary["skipped_by_kind"] == {kind: 1}
    warnings = err.splitlines()
    assert len(warnings) == 1 and "Traceback" not in err
    assert warnings[0].startswith(f"warning: {folder / file}:{line}: ")
    assert says in warnings[0] and warnings[0].endswith("(skipped)")


def test_check_default_table_counts_skipped_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    build, *_ = BAD["bad-time"]
    code, out, err = in_process(capsys, "data", "check", str(write_folder(tmp_path / "x", **build)))
    assert code == 0
    assert "skipped rows: 1 {'bad_time': 1}" in out
    assert err.startswith("warning: ") and "behaviors.tsv:2: " in err


@pytest.mark.parametrize("strict", [False, True])
def test_check_missing_empty_and_misplaced_files(tmp_path: Path, capsys: pytest.CaptureFixture, strict: bool) -> None:
    flags = ["--strict"] if strict else []
    missing = write_folder(tmp_path / "missing")
    (missing / "behaviors.tsv").unlink()
    empty = write_folder(tmp_path / "empty", news=b"")
    directory = write_folder(tmp_path / "directory")
    (directory / "news.tsv").unlink()
    (directory / "news.tsv").mkdir()
    for folder, expected in (
        (missing, f"{missing / 'behaviors.tsv'}: missing file"),
        (empty, f"{empty / 'news.tsv'}: file is empty"),
        (directory, f"{directory / 'news.tsv'}: is a directory where a file was expected"),
        (tmp_path / "absent", f"{tmp_path / 'absent'}: dataset folder does not exist"),
    ):
        code, out, err = in_process(capsys, "data", "check", str(folder), *flags)
        assert code == 2 and out == ""
        assert_one_line_error(err, expected)


def test_check_missing_file_as_a_subprocess(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "missing")
    (folder / "news.tsv").unlink()
    result = run_cli("data", "check", str(folder))
    assert result.returncode == 2 and result.stdout == ""
    assert_one_line_error(result.stderr, f"{folder / 'news.tsv'}: missing file")


# --------------------------------------------------------------------------- data generate


def hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_as_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = run_cli("data", "generate", "--preset", "tiny", "--seed", "7", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["preset"] == "tiny" and report["seed"] == 7 and report["out"] == str(out)
    assert report["counts"]["train"]["impressions"] == 900 and report["counts"]["dev"]["impressions"] == 300
    meta = json.loads((out / "meta.json").read_text())
    assert report["new_articles"] == len(meta["new_articles"]) and report["new_users"] == len(meta["new_users"])
    assert "Traceback" not in result.stderr and "tiny" in result.stderr  # progress goes to stderr
    assert (out / "dev" / "truth.tsv").is_file()


def test_generate_refuses_a_non_empty_folder_without_force(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "world"
    assert in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "1", "--out", str(out))[0] == 0
    before = hashes(out)
    code, stdout, err = in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "2", "--out", str(out))
    assert code == 2 and stdout == ""
    assert_one_line_error(err, str(out), "not empty", "--force")
    assert hashes(out) == before
    code, stdout, err = in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "2", "--out", str(out), "--force")
    assert code == 0
    assert json.loads((out / "meta.json").read_text())["seed"] == 2
    assert hashes(out) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]  # no staging or retired folder left


def test_generate_force_never_replaces_a_folder_it_did_not_generate(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   mind_sample: Path) -> None:
    """--force replaces only a world this program generated: a user's own MIND data, or a run, is refused."""
    mine = tmp_path / "my-mind"
    shutil.copytree(mind_sample, mine / "train")
    before = hashes(mine)
    code, stdout, err = in_process(capsys, "data", "generate", "--preset", "tiny", "--out", str(mine), "--force")
    assert code == 2 and stdout == ""
    assert_one_line_error(err, str(mine), "is not a generated dataset (it holds train/)")
    assert hashes(mine) == before


def test_generate_refuses_a_non_empty_folder_as_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = run_cli("data", "generate", "--preset", "tiny", "--out", str(out))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "not empty")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_generate_into_an_empty_folder_needs_no_force(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert in_process(capsys, "data", "generate", "--preset", "tiny", "--out", str(out))[0] == 0
    assert (out / "train" / "news.tsv").is_file()


def test_generate_onto_a_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    code, _, err = in_process(capsys, "data", "generate", "--preset", "tiny", "--out", str(out), "--force")
    assert code == 2
    assert_one_line_error(err, str(out), "exists and is not a folder")
    assert out.read_text() == "x"


def test_generate_bad_preset_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["data", "generate", "--preset", "gigantic", "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'gigantic'" in err and "Traceback" not in err
    result = run_cli("data", "generate", "--preset", "gigantic", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "invalid choice" in result.stderr
    assert not (tmp_path / "x").exists()


def test_generate_negative_seed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "-3", "--out", str(tmp_path / "x"))
    assert code == 2
    # The progress line is printed before generate() validates the seed; the error is still one line, last.
    progress, error = err.splitlines()
    assert progress.startswith("generating the tiny preset")
    assert_one_line_error(error, "seed must be a non-negative integer, got -3")
    assert not (tmp_path / "x").exists()


def test_generate_failure_leaves_no_half_written_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recengine import atomic

    out = tmp_path / "world"
    assert in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "1", "--out", str(out))[0] == 0
    before = hashes(out)

    def boom(path, text):
        if Path(path).name == "truth.tsv":
            raise OSError("no space left on device (simulated)")
        return real(path, text)

    real = atomic.write_text
    monkeypatch.setattr(atomic, "write_text", boom)
    code, stdout, err = in_process(capsys, "data", "generate", "--preset", "tiny", "--seed", "2", "--out", str(out), "--force")
    assert code == 1 and stdout == ""
    assert "no space left on device" in err and "Traceback" not in err
    assert hashes(out) == before
    code, _, _ = in_process(capsys, "data", "generate", "--preset", "tiny", "--out", str(tmp_path / "fresh"))
    assert code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]


def test_data_help_lists_both_actions(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["data", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "check" in out and "generate" in out
