"""What the richer slices and the reliability report add to an evaluation, on a dataset's dev split.

    .venv/bin/python benchmarks/slice_cost.py --data DATASET_FOLDER [--repeats 3]

No model is trained: the scores are the dev split's true click probabilities plus Gaussian noise (a stand-in
model; what the evaluation costs does not depend on where the scores come from). It times, median of
``--repeats``:

- ``before``: :func:`evaluate_scores` with the three standard slices only (what evaluation computed before);
- ``after``: the slice facts built from the data (:func:`data_slice_facts`), :func:`evaluate_scores` with them
  (standard slices and every slice group) and :func:`reliability_report` on the scores;

and prints one JSON object with both, the added seconds and the ratio. Scoring the candidates with the model,
which evaluation also does, is the same before and after and is not included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from recengine.data.mind import load_dataset
from recengine.eval.evaluate import data_slice_facts, evaluate_scores
from recengine.eval.reliability import reliability_report
from recengine.model.calibration import Calibration
from recengine.model.interactions import Interactions


def _interactions(part) -> Interactions:
    """The split's impressions in its own article codes (no catalogue needed to evaluate given scores)."""
    return Interactions(
        impression_ids=part.impression_ids, user_ids=part.impression_user_ids,
        user_rows=np.full(len(part), -1, dtype=np.int64), times=part.times.astype("datetime64[s]").astype(np.int64),
        history_ptr=part.history_ptr, history=part.history.astype(np.int64), candidate_ptr=part.candidate_ptr,
        candidates=part.candidates.astype(np.int64), labels=part.labels,
    )


def _median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a synthetic dataset folder (dev split with truth)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    part = dataset.dev.behaviors
    inter = _interactions(part)
    keys = dataset.truth.drop_duplicates(["impression_id", "news_id"]).set_index(["impression_id", "news_id"])
    truth = keys["probability"].reindex(list(zip(part.impression_ids[part.candidate_rows],
                                                 part.articles[part.candidates]))).to_numpy(dtype=np.float64)
    logits = np.log(truth / (1 - truth)) + np.random.default_rng(0).normal(0, 1, len(truth))
    categories = dataset.news.frame.set_index("news_id")["category"]
    calibration = Calibration(scale=1.0, shift=0.0, candidates=1)

    def after() -> None:
        facts = data_slice_facts(dataset.train.behaviors, part, categories)
        evaluate_scores(inter, logits, truth=truth, facts=facts)
        reliability_report(logits, calibration, inter.labels, truth)

    standard = data_slice_facts(dataset.train.behaviors, part, categories).masks()
    before = _median_seconds(lambda: evaluate_scores(inter, logits, standard, truth=truth), args.repeats)
    with_slices = _median_seconds(after, args.repeats)
    print(json.dumps({"data": str(args.data), "impressions": len(inter), "candidates": int(len(logits)),
                      "repeats": args.repeats, "before_seconds": round(before, 3),
                      "after_seconds": round(with_slices, 3), "added_seconds": round(with_slices - before, 3),
                      "ratio": round(with_slices / before, 2)}, indent=2))


if __name__ == "__main__":
    main()
