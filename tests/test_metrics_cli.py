"""``python -m recengine metrics``: MIND leaderboard files in, official metrics out as JSON; bad files exit 2."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_metrics import official_metrics

from recengine.cli import main

REPO = Path(__file__).resolve().parent.parent

TRUTH = """\
1 [0,1,0,0]
2 [1,0]
3 [0,0,0]
4 [1,1,0,0,0,0,0]
5 [1]
"""
PREDICTION = """\
1 [2,1,4,3]
2 [2,1]
3 [1,3,2]
4 [7,1,6,2,3,4,5]
5 [1]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def as_pairs(truth: str, prediction: str):
    """(labels, 1/rank scores) per line, parsed independently of the code under test."""
    pairs = []
    for t, p in zip(truth.splitlines(), prediction.splitlines()):
        labels = json.loads(t.split(" ", 1)[1])
        ranks = json.loads(p.split(" ", 1)[1])
        pairs.append((labels, [1.0 / r for r in ranks]))
    return pairs


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["metrics", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_scores_equal_the_official_scorer(tmp_path, capsys):
    truth = write(tmp_path, "truth.txt", TRUTH)
    prediction = write(tmp_path, "prediction.txt", PREDICTION)
    code, out, err = run_cli(capsys, "--truth", str(truth), "--prediction", str(prediction))
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result == official_metrics(as_pairs(TRUTH, PREDICTION))
    # Impressions 3 (no click) and 5 (only a click) have no AUC.
    assert (result["impressions"], result["skipped"]) == (5, 2)
    assert out == json.dumps(result, indent=2) + "\n"


def test_random_files_equal_the_official_scorer(tmp_path, capsys):
    rng = np.random.default_rng(11)
    truth_lines, prediction_lines = [], []
    for impression in range(200):
        n = int(rng.integers(1, 40))
        labels = (rng.random(n) < 0.15).astype(int).tolist()
        ranks = (rng.permutation(n) + 1).tolist()
        truth_lines.append(f"{impression} {json.dumps(labels, separators=(',', ':'))}")
        prediction_lines.append(f"{impression} {json.dumps(ranks, separators=(',', ':'))}")
    truth_text, prediction_text = "\n".join(truth_lines) + "\n", "\n".join(prediction_lines) + "\n"
    truth = write(tmp_path, "truth.txt", truth_text)
    prediction = write(tmp_path, "prediction.txt", prediction_text)
    code, out, _ = run_cli(capsys, "--truth", str(truth), "--prediction", str(prediction))
    assert code == 0
    assert json.loads(out) == official_metrics(as_pairs(truth_text, prediction_text))


def test_empty_lists_are_read_and_skipped(tmp_path, capsys):
    # MIND marks hidden impressions with []; they have no metric, so they only add to "skipped".
    truth = write(tmp_path, "truth.txt", "1 []\n2 [1,0]\n")
    prediction = write(tmp_path, "prediction.txt", "1 []\n2 [2,1]\n")
    code, out, _ = run_cli(capsys, "--truth", str(truth), "--prediction", str(prediction))
    assert code == 0
    # Impression 2: the click is ranked 2nd -> AUC 0, MRR 1/2, nDCG (1/log2(3)) / 1.
    ndcg = pytest.approx(1 / math.log2(3), abs=1e-15)
    expected = {"auc": 0.0, "mrr": 0.5, "ndcg@5": ndcg, "ndcg@10": ndcg, "p@5": 1 / 5, "p@10": 1 / 10, "r@5": 1.0,
                "r@10": 1.0, "impressions": 2, "skipped": 1}
    assert json.loads(out) == expected


def test_windows_line_ends_and_spaces_inside_lists_are_read(tmp_path, capsys):
    truth = write(tmp_path, "truth.txt", "a [0, 1]\r\nb [1,0]\r\n")
    prediction = write(tmp_path, "prediction.txt", "a [1, 2]\r\nb [1,2]")
    code, out, _ = run_cli(capsys, "--truth", str(truth), "--prediction", str(prediction))
    assert code == 0
    # a: the click is ranked 2nd (AUC 0, MRR 1/2); b: ranked 1st (AUC 1, MRR 1).
    assert json.loads(out)["auc"] == 0.5
    assert json.loads(out)["mrr"] == 0.75


BAD_FILES = [
    # (what is wrong, truth text, prediction text, file at fault, line, words in the message)
    ("impression id", "1 [0,1]\n2 [1,0]\n", "1 [1,2]\n3 [1,2]\n", "prediction", 2, "id '3' does not match '2'"),
    ("length", "1 [0,1]\n2 [1,0]\n", "1 [1,2]\n2 [1,2,3]\n", "prediction", 2, "3 ranks but 2 labels"),
    ("duplicate rank", "1 [0,1,0]\n", "1 [1,1,2]\n", "prediction", 1, "permutation of 1..3: rank 1 appears twice"),
    ("rank 0", "1 [0,1]\n", "1 [0,1]\n", "prediction", 1, "rank 0 is outside 1..2"),
    ("rank too big", "1 [0,1]\n", "1 [1,3]\n", "prediction", 1, "rank 3 is outside 1..2"),
    ("fractional rank", "1 [0,1]\n", "1 [1,1.5]\n", "prediction", 1, "1.5 is not a whole number"),
    ("bad JSON in prediction", "1 [0,1]\n2 [1,0]\n", "1 [1,2]\n2 [1,2\n", "prediction", 2, "malformed JSON list"),
    ("bad JSON in truth", "1 [0,1]\n2 [1,0,\n", "1 [1,2]\n2 [1,2]\n", "truth", 2, "malformed JSON list of labels"),
    ("not a list", "1 {\"a\": 1}\n", "1 [1]\n", "truth", 1, "expected a JSON list of labels"),
    ("label 2", "1 [0,1]\n2 [2,0]\n", "1 [1,2]\n2 [1,2]\n", "truth", 2, "labels must be 0 or 1, got 2"),
    ("label true", "1 [true,0]\n", "1 [1,2]\n", "truth", 1, "labels must be 0 or 1, got true"),
    ("no list", "1\n", "1 [1]\n", "truth", 1, "expected '<impression id> <JSON list of labels>'"),
    ("blank line", "1 [0,1]\n\n", "1 [1,2]\n2 [1,2]\n", "truth", 2, "expected '<impression id>"),
    ("fewer predictions", "1 [0,1]\n2 [1,0]\n", "1 [1,2]\n", "prediction", 2, "line missing: the file has 1 lines"),
    ("more predictions", "1 [0,1]\n", "1 [1,2]\n2 [1,2]\n", "prediction", 2, "extra line"),
]


@pytest.mark.parametrize(
    ("truth_text", "prediction_text", "culprit", "line", "words"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_files_exit_2_with_file_and_line(tmp_path, capsys, truth_text, prediction_text, culprit, line, words):
    truth = write(tmp_path, "truth.txt", truth_text)
    prediction = write(tmp_path, "prediction.txt", prediction_text)
    code, out, err = run_cli(capsys, "--truth", str(truth), "--prediction", str(prediction))
    assert code == 2
    assert out == ""
    at_fault = truth if culprit == "truth" else prediction
    assert err.startswith(f"error: {at_fault}:{line}: ")
    assert words in err
    assert err.count("\n") == 1


def test_missing_and_empty_files(tmp_path, capsys):
    truth = write(tmp_path, "truth.txt", "1 [0,1]\n")
    missing = tmp_path / "nope.txt"
    code, _, err = run_cli(capsys, "--truth", str(truth), "--prediction", str(missing))
    assert (code, err) == (2, f"error: {missing}: missing file\n")
    code, _, err = run_cli(capsys, "--truth", str(missing), "--prediction", str(truth))
    assert (code, err) == (2, f"error: {missing}: missing file\n")
    code, _, err = run_cli(capsys, "--truth", str(tmp_path), "--prediction", str(truth))
    assert (code, err) == (2, f"error: {tmp_path}: is a directory where a file was expected\n")
    empty = write(tmp_path, "empty.txt", "")
    code, _, err = run_cli(capsys, "--truth", str(empty), "--prediction", str(empty))
    assert (code, err) == (2, f"error: {empty}: file is empty\n")


def test_not_utf8(tmp_path, capsys):
    truth = write(tmp_path, "truth.txt", "1 [0,1]\n2 [1,0]\n")
    prediction = tmp_path / "prediction.txt"
    prediction.write_bytes(b"1 [1,2]\n\xff2 [1,2]\n")
    code, _, err = run_cli(capsys, "--truth", str(truth), "--prediction", str(prediction))
    assert code == 2
    assert err.startswith(f"error: {prediction}:2: ")


def test_help_describes_the_formats(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["metrics", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for words in ("--truth", "--prediction", "[0,1,0]", "[3,1,2]", "1/rank", "skipped", "nDCG@10"):
        assert words in text


def test_subprocess_bad_input_exits_2_without_traceback(tmp_path):
    truth = write(tmp_path, "truth.txt", "1 [0,1]\n")
    prediction = write(tmp_path, "prediction.txt", "1 [2,2]\n")
    done = subprocess.run(
        [sys.executable, "-m", "recengine", "metrics", "--truth", str(truth), "--prediction", str(prediction)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"error: {prediction}:1: ranks must be a permutation of 1..2: rank 2 appears twice\n"
    assert "Traceback" not in done.stderr
