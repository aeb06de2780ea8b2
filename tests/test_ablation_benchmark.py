"""benchmarks/ablation.py on tiny: one JSON object with every variant and slice, the base beside random and the
oracle, and a paired comparison that reads exactly 0 for a variant that is the base config again."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
from benchmark_kit import benchmark_module

ablation = benchmark_module("ablation")
SLICES = {"overall", "warm", "new_articles", "cold_users"}


@pytest.fixture(scope="module")
def report(tiny_data) -> dict:
    out = io.StringIO()
    with redirect_stdout(out):
        code = ablation.main(["--data", str(tiny_data), "--embedder", "hashing", "--epochs", "1", "--seeds", "0",
                              "--resamples", "200", "--variants", "same:focal_gamma=0"])
    assert code == 0
    return json.loads(out.getvalue())


def test_the_report_has_every_variant_and_slice(report):
    assert set(report["variants"]) == {"base", "same"}
    assert report["seeds"] == [0] and report["selected_on"] == "validation"
    for name, variant in report["variants"].items():
        assert set(variant["slices"]) == SLICES
        assert len(variant["seconds_per_seed"]) == len(variant["best_epochs"]) == 1
        for figures in variant["slices"].values():
            assert figures["auc"]["per_seed"][0] == figures["auc"]["mean"]
            assert ("vs_base" in figures) == (name != "base")
    assert report["variants"]["same"]["command"][-2:] == ["--epochs", "1"]  # focal_gamma 0 is the default


def test_the_base_beats_random_and_sits_below_the_oracle(report):
    overall = report["variants"]["base"]["slices"]["overall"]
    assert overall["auc"]["mean"] > overall["random_auc"] + 0.05
    assert overall["auc"]["mean"] < overall["oracle_auc"]
    share = overall["share_of_oracle"]
    assert 0 < share["ci_low"] <= share["value"] <= share["ci_high"] < 1


def test_a_variant_equal_to_the_base_differs_by_exactly_nothing(report):
    """Training is deterministic, so the pairing must give 0 on the same impressions: a shifted or misaligned
    pairing would not."""
    for name, figures in report["variants"]["same"]["slices"].items():
        for metric in ("auc", "ndcg@10"):
            paired = figures["vs_base"][metric]
            assert paired["difference"] == 0.0 and paired["p_value"] == 1.0, (name, metric)
            assert not paired["distinguishable"]


@pytest.mark.parametrize("variant, message", [
    ("focal", "variant 'focal' must read NAME:setting=value"),
    ("x:focal_gama=2", "variant x: 'focal_gama' is not a run setting"),
    ("x:focal_gamma=-1", "variant x: focal_gamma must be a number between 0 and 10; got -1.0"),
    ("x:class_balance=oversample", "variant x: class_balance oversample balances the bce loss only"),
])
def test_a_bad_variant_is_one_line_and_exit_2_before_any_work(tmp_path, capsys, variant, message):
    code = ablation.main(["--data", str(tmp_path / "missing"), "--variants", variant])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith(f"error: {message}") and len(captured.err.splitlines()) == 1, captured.err
