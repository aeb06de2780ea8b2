"""Scoring an external system's prediction file (``recengine evaluate --prediction``): the same table as a run,
line-numbered errors for bad files, paired significance against a stored run, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recengine.app import external, runs
from recengine.cli import main
from recengine.errors import InputError

REPO = Path(__file__).resolve().parent.parent


def dev_impressions(root: Path) -> list[tuple[str, str, list[str], list[int]]]:
    """(impression id, user id, candidate ids, labels) per line of dev/behaviors.tsv, parsed here on its own."""
    rows = []
    for line in (root / "dev" / "behaviors.tsv").read_text(encoding="utf-8").splitlines():
        impression, user, _, _, items = line.split("\t")
        pairs = [item.rsplit("-", 1) for item in items.split()]
        rows.append((impression, user, [news for news, _ in pairs], [int(label) for _, label in pairs]))
    return rows


def truth_scores(root: Path) -> dict[tuple[str, str], float]:
    rows = (line.split("\t") for line in (root / "dev" / "truth.tsv").read_text(encoding="utf-8").splitlines())
    return {(impression, news): float(p) for impression, news, p in rows}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def in_order_ranks(rows) -> list[str]:
    return [f"{impression} {json.dumps(list(range(1, len(items) + 1)))}" for impression, _, items, _ in rows]


def test_a_runs_own_ranks_score_exactly_like_the_run_and_are_indistinguishable(store, tiny_run, tiny_cache, tmp_path):
    prediction = tmp_path / "prediction.txt"
    runs.predict(store, tiny_run, prediction, split="dev", cache=tiny_cache)
    result = external.evaluate_prediction(store, prediction, against=tiny_run)
    reference = runs.evaluate(store, tiny_run, split="dev", cache=tiny_cache, seed=0)
    for key in ("model", "random", "oracle", "ci"):
        assert result[key] == reference[key]
    assert result["prediction"]["format"] == "ranks"
    for metric, comparison in result["against"]["metrics"].items():
        assert comparison["difference"] == 0.0, metric
        assert comparison["ci_low"] <= 0.0 <= comparison["ci_high"]
        assert comparison["p_value"] == 1.0 and not comparison["distinguishable"]


def test_a_score_file_in_any_order_gives_the_official_mean_auc(store, tiny_data, tmp_path):
    rows = dev_impressions(tiny_data)
    truth = truth_scores(tiny_data)
    lines = [f"{impression} {json.dumps([truth[impression, news] for news in items])}"
             for impression, _, items, _ in reversed(rows)]
    result = external.evaluate_prediction(store, write_lines(tmp_path / "scores.txt", lines), data=tiny_data)
    aucs = [roc_auc_score(labels, [truth[impression, news] for news in items])
            for impression, _, items, labels in rows if 0 < sum(labels) < len(labels)]
    assert result["prediction"]["format"] == "scores"
    assert result["model"]["auc"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert result["model"] == result["oracle"]  # the truth's own probabilities, read from the file
    low, high = result["ci"]["auc"]
    assert low < result["model"]["auc"] < high


def test_slices_read_seen_in_training_from_the_train_split(store, tiny_data, tmp_path):
    rows = dev_impressions(tiny_data)
    train_users = {line.split("\t")[1] for line in (tiny_data / "train" / "behaviors.tsv").read_text().splitlines()}
    cold = [row for row in rows if row[1] not in train_users]
    result = external.evaluate_prediction(store, write_lines(tmp_path / "p.txt", in_order_ranks(rows)), data=tiny_data)
    assert cold, "the tiny world has new users in dev"
    assert result["slices"]["cold_users"]["impressions"] == len(cold)
    assert result["baselines"]["cold_users"]["oracle"]["impressions"] == len(cold)


def test_whole_number_scores_need_the_scores_format(store, tiny_data, tmp_path):
    rows = dev_impressions(tiny_data)
    lines = [f"{impression} {json.dumps([len(news) % 3 for news in items])}" for impression, _, items, _ in rows]
    path = write_lines(tmp_path / "counts.txt", lines)
    with pytest.raises(InputError, match=rf"^{path}:1: ranks must be a permutation"):
        external.evaluate_prediction(store, path, data=tiny_data)
    result = external.evaluate_prediction(store, path, data=tiny_data, format="scores")
    assert result["prediction"]["format"] == "scores"


def broken(rows, kind: str) -> tuple[list[str], int | None, str]:
    """A prediction file with one problem: (its lines, the line the error must name or None, the message)."""
    lines = in_order_ranks(rows)
    first, second = rows[0][0], rows[1][0]
    if kind == "json":
        lines[1] = f"{second} [1,2"
        return lines, 2, "malformed JSON"
    if kind == "count":
        lines[2] = f"{rows[2][0]} [1]"
        return lines, 3, f"1 values but impression {rows[2][0]} has {len(rows[2][2])} candidates in the dev split"
    if kind == "unknown":
        lines[0] = "999999 [1]"
        return lines, 1, "impression id '999999' is not in the dev split"
    if kind == "twice":
        lines[1] = lines[0]
        return lines, 2, f"impression id '{first}' appears twice \\(first on line 1\\)"
    if kind == "rank":
        lines[3] = f"{rows[3][0]} {json.dumps([1] * len(rows[3][2]))}"
        return lines, 4, f"ranks must be a permutation of 1..{len(rows[3][2])}: rank 1 appears twice"
    if kind == "nan":
        lines = [f"{i} {json.dumps([0.5] * len(items))}" for i, _, items, _ in rows]
        lines[4] = lines[4].replace("0.5", "NaN", 1)
        return lines, 5, "scores must be finite numbers, got NaN"
    if kind == "missing":
        return lines[:-1], None, (f"1 of the {len(rows)} impressions of the dev split are missing from the file "
                                  f"\\(the first: {rows[-1][0]}\\)")
    return [], None, "file is empty"


@pytest.mark.parametrize("kind", ["json", "count", "unknown", "twice", "rank", "nan", "missing", "empty"])
def test_a_bad_file_is_refused_naming_its_line(store, tiny_data, tmp_path, kind):
    lines, number, message = broken(dev_impressions(tiny_data), kind)
    path = write_lines(tmp_path / "bad.txt", lines)
    where = f"{path}:{number}: " if number else f"{path}: "
    with pytest.raises(InputError, match="^" + where + message):
        external.evaluate_prediction(store, path, data=tiny_data)


def test_an_upload_is_named_in_its_errors(store, tiny_data):
    with pytest.raises(InputError, match=r"^system\.txt:1: impression id 'x' is not in the dev split"):
        external.evaluate_prediction(store, b"x [1]\n", name="system.txt", data=tiny_data)


def test_a_clearly_better_system_is_significantly_better_than_the_run(store, tiny_run, tiny_data, tmp_path):
    truth = truth_scores(tiny_data)
    lines = [f"{i} {json.dumps([truth[i, news] for news in items])}" for i, _, items, _ in dev_impressions(tiny_data)]
    result = external.evaluate_prediction(store, write_lines(tmp_path / "oracle.txt", lines), against=tiny_run)
    auc = result["against"]["metrics"]["auc"]
    assert auc["a"] == pytest.approx(result["oracle"]["auc"])
    assert auc["difference"] > 0 and auc["ci_low"] > 0 and auc["distinguishable"]
    assert auc["p_value"] < 0.001
    assert result["against"]["run_b"] == runs.find_run(store, tiny_run)["run_id"]


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recengine", *argv], cwd=REPO, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)


@pytest.mark.slow  # a fresh interpreter that imports torch: ~20 s on a busy two-core machine
def test_the_cli_scores_a_file_and_refuses_a_bad_one_in_one_line(tiny_data, tmp_path, cli_main):
    rows = dev_impressions(tiny_data)
    good = write_lines(tmp_path / "good.txt", in_order_ranks(rows))
    done = cli_main("evaluate", "--prediction", good, "--data", tiny_data)  # in this process; the refusal: a real one
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"model", "random", "oracle", "slices", "baselines", "ci", "prediction"} <= set(result)
    assert result["model"]["impressions"] == len(rows)
    lines, _, _ = broken(rows, "count")
    bad = write_lines(tmp_path / "bad.txt", lines)
    refused = cli("evaluate", "--prediction", str(bad), "--data", str(tiny_data))
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert f"{bad}:3: " in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("argv", [["--run", "r", "--prediction", "p"], [], ["--prediction", "p", "--format", "x"]])
def test_the_cli_wants_exactly_one_of_run_and_prediction(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", *argv])
    assert exited.value.code == 2


def test_a_prediction_without_a_dataset_names_what_is_missing(tmp_path, capsys):
    path = write_lines(tmp_path / "p.txt", ["1 [1]"])
    assert main(["evaluate", "--prediction", str(path)]) == 2
    assert "no dataset given" in capsys.readouterr().err
