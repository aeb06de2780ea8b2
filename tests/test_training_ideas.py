"""The seeds' training ideas (seeds/001 §9.1-9.2) as run settings: hard negatives, focal loss, oversampled clicks
and the auxiliary category task. Each trains and beats random, is recorded in config.json, does what it says on
constructed inputs, and is refused with one line when it cannot apply."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recengine.cli import main
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import load_dataset
from recengine.errors import InputError
from recengine.train import losses, negatives
from recengine.train.api import train_run
from recengine.train.trainer import AUTO_CATEGORY_WEIGHT, ClickBatches, Trainer, prepare, to_tensors

REPO = Path(__file__).resolve().parent.parent

IDEAS = {
    "hard_negatives": {"hard_negatives": "impression+recall"},
    "focal": {"focal_gamma": 2.0},
    "oversample": {"loss": "bce", "class_balance": "oversample"},
    "category_aux": {"category_aux_weight": 0.5},
}


def config(**train) -> RunConfig:
    return RunConfig(ModelConfig(embedder="hashing"), TrainConfig(**{"epochs": 3, **train}))


@pytest.fixture(scope="module")
def prepared(tiny_data, tiny_cache):
    return prepare(load_dataset(tiny_data), config(), cache=tiny_cache)


# ----------------------------------------------------------------------------------------- each idea trains


@pytest.mark.slow
@pytest.mark.parametrize("idea", sorted(IDEAS))
def test_each_idea_learns_and_is_recorded(tiny_data, tiny_cache, tmp_path, idea):
    # Measured on tiny, 3 epochs, seed 0: AUC 0.65-0.69 for each idea against random 0.49 (the default 0.69).
    run = train_run(tiny_data, config(**IDEAS[idea]), out=tmp_path / "run", cache=tiny_cache)
    assert run.metrics["model"]["auc"] >= 0.6
    assert run.metrics["model"]["auc"] >= run.metrics["random"]["auc"] + 0.08
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert {key: saved[key] for key in IDEAS[idea]} == IDEAS[idea]


def test_the_cli_trains_with_the_ideas_and_records_them(tiny_data, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "recengine", "train", "--data", str(tiny_data), "--out", str(out), "--embedder",
         "hashing", "--epochs", "1", "--dim", "16", "--hard-negatives", "impression", "--hard-negative-share", "0.25",
         "--focal-gamma", "1.5", "--category-aux-weight", "0.3"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["hard_negatives"], train["hard_negative_share"]) == ("impression", 0.25)
    assert (train["focal_gamma"], train["category_aux_weight"], train["class_balance"]) == (1.5, 0.3, "pos_weight")


def test_a_config_saved_before_the_ideas_loads_with_them_off():
    saved = {**RunConfig().to_dict(), "format_version": 2}
    for key in ("hard_negatives", "hard_negative_share", "focal_gamma", "class_balance", "category_aux_weight"):
        del saved["train"][key]
    saved["model"]["views"] = list(saved["model"]["views"])
    loaded = RunConfig.from_dict(saved)
    assert loaded == RunConfig(train=TrainConfig(category_aux_weight=0.0))
    assert (loaded.train.hard_negatives, loaded.train.focal_gamma, loaded.train.category_aux_weight) == ("none", 0, 0)
    assert RunConfig().train.category_aux_weight is None  # today's default: auto


def test_the_category_task_is_on_by_default_where_there_are_categories(prepared):
    assert Trainer(prepared, config()).category_weight == AUTO_CATEGORY_WEIGHT
    catalog = prepared.catalog
    one = dataclasses.replace(prepared, catalog=dataclasses.replace(catalog, frame=catalog.frame.assign(category="news")))
    assert Trainer(one, config()).category_head is None  # auto: off with one category, not refused
    assert Trainer(prepared, config(category_aux_weight=0.0)).category_head is None


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--focal-gamma", "-1"], "error: --focal-gamma must be a number between 0 and 10; got -1.0"),
        (["--hard-negatives", "all"], "error: --hard-negatives must be one of none, impression, impression+recall"),
        (["--hard-negative-share", "0"], "error: --hard-negative-share must be a number above 0 and at most 1"),
        (["--category-aux-weight", "nan"], "error: --category-aux-weight must be a number between 0 and 100"),
        (["--class-balance", "oversample"], "error: class_balance oversample balances the bce loss only"),
        (["--loss", "infonce", "--negatives", "0", "--hard-negatives", "impression"],
         "error: hard_negatives impression replaces some of the K negatives"),
    ],
)
def test_bad_values_are_one_line_and_exit_2_before_reading_data(tmp_path, capsys, flags, message):
    code = main(["train", "--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith(message), err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------------- hard negatives


def test_top_valid_takes_the_highest_valid_columns_best_first():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.7], [3.0, -1.0, 2.0, 0.0]])
    valid = torch.tensor([[True, False, True, True], [False, True, False, False]])
    columns, found = negatives.top_valid(scores, valid, 2)
    assert columns[0].tolist() == [3, 2] and found[0].tolist() == [True, True]  # 0.9 is not valid
    assert columns[1, 0].item() == 1 and found[1].tolist() == [True, False]  # one valid column only
    candidates = np.array([[100, 1, 2, 3], [200, 4, 5, 6]])
    pool = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    negatives.place(candidates, 1, pool, columns.numpy(), found.numpy())
    assert candidates.tolist() == [[100, 13, 12, 3], [200, 21, 5, 6]]  # a row without a second keeps its random one


def test_hard_counts_mix_hard_with_random():
    assert negatives.hard_counts(4, 0.5, "none") == (0, 0)
    assert negatives.hard_counts(4, 0.5, "impression") == (2, 0)
    assert negatives.hard_counts(4, 0.5, "impression+recall") == (1, 1)
    assert negatives.hard_counts(4, 0.01, "impression") == (1, 0)  # at least one when on
    assert negatives.hard_counts(5, 1.0, "impression+recall") == (3, 2)


def test_the_recall_pool_never_offers_the_readers_own_clicks():
    pool = np.array([[1, 2, 3, 4]])
    valid = negatives.recall_valid(pool, clicked=np.array([2]), history=np.array([[4, -1]]))
    assert valid.tolist() == [[True, False, True, False]]


def _impression_non_clicks(prepared, row: int) -> np.ndarray:
    inter = prepared.train
    start, end = inter.candidate_ptr[row], inter.candidate_ptr[row + 1]
    return inter.candidates[start:end][inter.labels[start:end] == 0]


def test_the_sampler_picks_the_non_clicks_the_current_network_scores_highest(prepared):
    """On a real batch: the hard columns hold the impression's top-scored non-clicks, scored here independently
    (every non-click of the impression in one forward pass of the same network)."""
    cfg = config(hard_negatives="impression", hard_negative_share=0.5)
    trainer = Trainer(prepared, cfg)
    data = trainer.fit_data()
    batches: ClickBatches = data.batches
    sizes = np.array([len(_impression_non_clicks(prepared, r)) for r in batches.click_rows])
    samples = np.flatnonzero(sizes >= 6)[:8]
    assert len(samples) == 8
    raw = batches.batch(samples, data.rng)
    random_part = raw["candidates"][:, 3:].copy()
    trainer._harden(raw, samples, data)
    trainer.net.eval()
    for i, sample in enumerate(samples):
        pool = _impression_non_clicks(prepared, batches.click_rows[sample])
        one = {key: value[i : i + 1] for key, value in raw.items()}
        one["candidates"] = np.concatenate([raw["candidates"][i : i + 1, :1], pool[None, :]], axis=1)
        with torch.no_grad():
            logits, _ = trainer.net(to_tensors(one, trainer.device), data.text, data.graph, data.first_seen)
        best = pool[np.argsort(-logits[0, 1:].numpy(), kind="stable")[:2]]
        assert raw["candidates"][i, 1:3].tolist() == best.tolist()
    assert (raw["candidates"][:, 3:] == random_part).all()  # the other half stays random


# ------------------------------------------------------------------------------------------------- focal loss


def test_focal_loss_at_gamma_0_is_the_plain_loss():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.8, 1.2]])
    labels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    weights = torch.tensor([[2.0, 1.0, 1.0], [2.0, 1.0, 1.0]])
    plain = (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weights).sum() / weights.sum()
    assert torch.allclose(losses.bce(logits, 2.0, gamma=0.0), plain)
    assert torch.allclose(losses.listwise(logits, gamma=0.0), F.cross_entropy(logits, torch.zeros(2, dtype=torch.long)))


def test_focal_loss_follows_its_formula_and_down_weights_easy_examples():
    x = torch.tensor([[1.5, -0.5]])
    p_click, p_other = torch.sigmoid(x[0, 0]), 1 - torch.sigmoid(x[0, 1])
    by_hand = (-(1 - p_click) ** 2 * torch.log(p_click) - (1 - p_other) ** 2 * torch.log(p_other)) / 2
    assert torch.allclose(losses.bce(x, 1.0, gamma=2.0), by_hand)
    soft = torch.softmax(x, dim=1)[0, 0]
    assert torch.allclose(losses.listwise(x, gamma=2.0), -(1 - soft) ** 2 * torch.log(soft))
    easy, hard = torch.tensor([[4.0, -4.0]]), torch.tensor([[-0.5, 0.5]])
    for loss in (lambda t, g: losses.bce(t, 1.0, gamma=g), lambda t, g: losses.listwise(t, gamma=g)):
        kept_easy = loss(easy, 2.0) / loss(easy, 0.0)
        kept_hard = loss(hard, 2.0) / loss(hard, 0.0)
        assert kept_easy < 0.01 < 0.3 < kept_hard


# ---------------------------------------------------------------------------------------------- oversampling


def test_oversampling_balances_clicks_against_non_clicks():
    rng = np.random.default_rng(0)
    k, batch = 4, 32
    rows = negatives.oversampled(np.arange(batch), float(k), clicks=1000, rng=rng)
    assert len(rows) == k * batch and (rows[:batch] == np.arange(batch)).all()
    weights = negatives.oversample_weights(len(rows), batch, 1 + k, torch.device("cpu"))
    assert weights[:, 0].sum() == weights[:, 1:].sum() == k * batch  # as many clicks as non-clicks counted
    logits = torch.randn(len(rows), 1 + k)
    logits[batch:, 1:] = 99.0  # the extra rows' unused columns: must not count
    plain = F.binary_cross_entropy_with_logits(logits[:, 0], torch.ones(len(rows)), reduction="sum")
    plain = plain + F.binary_cross_entropy_with_logits(logits[:batch, 1:], torch.zeros(batch, k), reduction="sum")
    assert torch.allclose(losses.bce(logits, weights=weights), plain / (2 * k * batch))


def test_an_oversampled_step_draws_extra_clicks_and_trains(prepared, monkeypatch):
    drawn = []
    real = ClickBatches.batch

    def recording(self, samples, rng):
        drawn.append(len(samples))
        return real(self, samples, rng)

    monkeypatch.setattr(ClickBatches, "batch", recording)
    cfg = config(loss="bce", class_balance="oversample", pos_weight=3.0, epochs=1, batch_size=64)
    result = Trainer(prepared, cfg).fit()
    assert math.isfinite(result.history[0]["train_loss"])
    assert drawn[0] == 3 * 64  # each row of K non-clicks comes with 3 click rows (pos_weight 3)


# ------------------------------------------------------------------------------------ the auxiliary category task


def test_the_category_head_learns_categories_and_is_not_saved(prepared, tiny_data, tiny_cache, tmp_path):
    run = train_run(tiny_data, config(category_aux_weight=0.5), out=tmp_path / "run", cache=tiny_cache)
    history = run.result.history
    categories = prepared.catalog.frame["category"]
    majority = categories.value_counts(normalize=True).iloc[0]
    # tiny v3: 40% of articles name only topic-less entities and hashing reads few of the paraphrased words, so
    # three epochs lift the head ~0.05 above always answering the commonest category (0.315 vs 0.269 measured)
    assert history[-1]["category_accuracy"] > majority + 0.03
    assert history[-1]["category_loss"] < history[0]["category_loss"] < math.log(categories.nunique())
    from safetensors import safe_open

    weights = next((tmp_path / "run").glob("*.safetensors"))
    with safe_open(str(weights), "pt") as opened:
        assert not [key for key in opened.keys() if "category" in key]


def test_the_category_task_needs_two_categories(prepared):
    catalog = prepared.catalog
    one = dataclasses.replace(catalog, frame=catalog.frame.assign(category="news"))
    with pytest.raises(InputError, match="category_aux_weight needs articles of at least two categories"):
        Trainer(dataclasses.replace(prepared, catalog=one), config(category_aux_weight=0.5))
