"""Retrieval-augmented user vectors: the bank excludes the user itself, filters by similarity, caps at k,
trains, saves, reloads, and is evaluated with and without retrieval."""

from __future__ import annotations

import json

import numpy as np
import torch

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.eval.metrics import METRICS
from recengine.model.retrieval import UserBank
from recengine.train.api import evaluate_run, train_run


def test_bank_excludes_self_filters_by_threshold_and_caps_at_k():
    vectors = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1]], dtype=np.float32)
    bank = UserBank(vectors, np.array([10, 11, 12, 13]))
    query = torch.tensor([[1.0, 0.0]])
    retrieved, found = bank.retrieve(query, torch.tensor([10]), k=1, threshold=0.5)
    assert found.tolist() == [True]
    # The nearest other user is row 11 (row 10 is the user itself).
    expected = torch.from_numpy(vectors[1] / np.linalg.norm(vectors[1]))
    assert torch.allclose(retrieved[0], expected, atol=1e-6)
    _, found = bank.retrieve(torch.tensor([[-1.0, 0.0]]), torch.tensor([-1]), k=3, threshold=0.5)
    assert found.tolist() == [False]  # nobody is similar enough
    both, _ = bank.retrieve(query, torch.tensor([10]), k=2, threshold=0.5)
    assert not torch.allclose(both[0], expected)  # two neighbours now, row 13 still excluded by the threshold


def test_training_with_retrieval_reports_both_evaluations(tiny_data, tiny_cache, tmp_path):
    config = RunConfig(ModelConfig(embedder="hashing", dim=32, user_retrieval=5), TrainConfig(epochs=1))
    trained = train_run(tiny_data, config, out=tmp_path / "run", cache=tiny_cache)
    retrieval = trained.meta["retrieval"]
    assert retrieval["users_in_bank"] > 0
    assert set(retrieval["with"]) == set(retrieval["without"]) == set(METRICS)
    assert retrieval["with"]["auc"] == trained.metrics["model"]["auc"]
    assert "retrieval_gate.weight" in trained.result.recommender.net.state_dict()
    # A reloaded run rebuilds its bank and scores the same.
    assert evaluate_run(tmp_path / "run", cache=tiny_cache)["model"] == trained.metrics["model"]
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["retrieval"] == retrieval
