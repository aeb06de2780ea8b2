"""Official MIND ranking metrics (AUC, MRR, nDCG@5, nDCG@10), precision and recall at 5 and 10, and the MIND
leaderboard file format.

Each metric is computed per impression, then averaged with a plain mean over the impressions where it is
defined:

- AUC: ROC AUC of the labels against the scores, ties counting half (``sklearn.metrics.roc_auc_score``).
  An impression with only clicks or only non-clicks (or no candidates) has no AUC: it is left out of the
  AUC mean and counted in ``skipped``.
- MRR: candidates ordered by descending score; the mean of 1/rank over the clicked candidates.
- nDCG@k: gains 2^label - 1, discounts log2(rank + 1); DCG of the top k by score over DCG of the top k
  of the ideal order. MRR and nDCG are undefined without a click, so such impressions (already counted
  in ``skipped``) are left out of those means; an impression where every candidate was clicked counts.

Two more per-impression units, not part of the official scorer (MIND reports only the four above), with the same
ranking and skip rules as MRR and nDCG (undefined without a click, ties by input position):

- P@k (precision): clicks among the top k by score, divided by k. The divisor is k even when an impression has
  fewer than k candidates (the usual definition, as in microsoft/recommenders' ``precision_at_k``), so a list
  shorter than k cannot reach 1; averages stay comparable across impressions of different lengths because every
  impression is judged on the same k slots.
- R@k (recall): clicks among the top k divided by all the impression's clicks.

Both are exact: a sum of at most k zeros and ones, divided once. k = 5 and 10, like nDCG.

Ties: for MRR, nDCG, P@k and R@k, equal scores keep the candidates' input order (a stable sort, the earlier
candidate ranks higher), so results are deterministic. The official scorer uses
``np.argsort(y_score)[::-1]``, which leaves the order of ties to NumPy's sort internals, so on tied scores
its MRR/nDCG may differ from ours. AUC does not depend on the order of ties.

Exactness: on tie-free scores every per-impression value and every mean is bit-identical to the official
scorer (MIND's ``evaluate.py`` with ``roc_auc_score``): the elementwise arithmetic is the same and every sum
is ``np.sum`` over an array of the same length in the same order. That is why impressions are processed in
blocks of *equal* length rather than padded: padding would change NumPy's pairwise summation, and with it
the last bits. AUC follows sklearn's ROC construction step by step for the same reason, so it also
matches sklearn bit for bit on tied scores.
"""

from __future__ import annotations

import codecs
import io
import json
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from recengine.errors import InputError

# Candidates per vectorised block: keeps the dozen (rows, length) temporaries in cache-friendly sizes
# (measured fastest around here by benchmarks/metrics_speed.py) and memory bounded.
BLOCK_CANDIDATES = 1 << 16


@dataclass(frozen=True)
class RankedBlock:
    """g impressions of one length L, candidates in descending score order (ties by input position):
    labels ``y`` (g, L) float 0/1, scores ``s`` (g, L), ``clicks`` (g,) and ``has_click`` (g,)."""

    y: np.ndarray
    s: np.ndarray
    clicks: np.ndarray
    has_click: np.ndarray


@dataclass(frozen=True)
class Metric:
    """One ranking metric: its key in every result dict and table column, how it is shown, what it means, and
    ``compute(block) -> (g,)`` per-impression values, NaN where undefined."""

    name: str
    label: str
    description: str
    compute: Callable[[RankedBlock], np.ndarray]
    higher_is_better: bool = True


def _mrr(block: RankedBlock) -> np.ndarray:
    # Official: sum(y_true / (arange(L) + 1)) / sum(y_true).
    out = np.full(len(block.y), np.nan)
    np.divide((block.y / np.arange(1, block.y.shape[1] + 1)).sum(axis=1), block.clicks, out=out, where=block.has_click)
    return out


def _ndcg(k: int) -> Callable[[RankedBlock], np.ndarray]:
    def ndcg(block: RankedBlock) -> np.ndarray:
        depth = min(block.y.shape[1], k)
        # The official dcg_score takes log2 of exactly this array; computed the same way to get the same bits.
        discounts = np.log2(np.arange(depth) + 2)
        dcg = (block.y[:, :depth] / discounts).sum(axis=1)
        ideal = ((np.arange(depth) < block.clicks[:, None]) / discounts).sum(axis=1)
        out = np.full(len(block.y), np.nan)
        np.divide(dcg, ideal, out=out, where=block.has_click)
        return out

    return ndcg


def _precision(k: int) -> Callable[[RankedBlock], np.ndarray]:
    def precision(block: RankedBlock) -> np.ndarray:
        return np.where(block.has_click, block.y[:, :k].sum(axis=1) / k, np.nan)

    return precision


def _recall(k: int) -> Callable[[RankedBlock], np.ndarray]:
    def recall(block: RankedBlock) -> np.ndarray:
        out = np.full(len(block.y), np.nan)
        np.divide(block.y[:, :k].sum(axis=1), block.clicks, out=out, where=block.has_click)
        return out

    return recall


def _auc(block: RankedBlock) -> np.ndarray:
    out = np.full(len(block.y), np.nan)
    two_classes = block.has_click & (block.clicks < block.y.shape[1])
    if two_classes.any():
        out[two_classes] = _sklearn_auc(block.y[two_classes], block.s[two_classes])
    return out


# The metrics, in the order every result and table shows them: the one place a metric is declared.
METRIC_UNITS = (
    Metric("auc", "AUC", "chance that a clicked candidate outscores a non-clicked one (0.5 = random)", _auc),
    Metric("mrr", "MRR", "mean reciprocal rank of the clicked candidates", _mrr),
    Metric("ndcg@5", "nDCG@5", "discounted gain of the clicks in the top 5, over the best possible", _ndcg(5)),
    Metric("ndcg@10", "nDCG@10", "discounted gain of the clicks in the top 10, over the best possible", _ndcg(10)),
    Metric("p@5", "P@5", "share of the top 5 that was clicked", _precision(5)),
    Metric("p@10", "P@10", "share of the top 10 that was clicked", _precision(10)),
    Metric("r@5", "R@5", "share of the clicks that made the top 5", _recall(5)),
    Metric("r@10", "R@10", "share of the clicks that made the top 10", _recall(10)),
)
METRICS = tuple(metric.name for metric in METRIC_UNITS)
METRIC_LABELS = {metric.name: metric.label for metric in METRIC_UNITS}


# --------------------------------------------------------------------------- public API


def mind_metrics(pairs: Iterable[tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]]) -> dict:
    """Mean of every metric in :data:`METRICS` over impressions given as ``(labels (L,), scores (L,))`` pairs.

    Returns each metric's mean (float, or None when no impression qualifies),
    ``impressions`` (how many were given) and ``skipped`` (how many had no AUC). Labels must be 0/1 and
    scores finite; a problem raises :class:`InputError` naming the 0-based impression.
    """
    label_parts: list[np.ndarray] = []
    score_parts: list[np.ndarray] = []
    for i, pair in enumerate(pairs):
        try:
            labels, scores = pair
        except (TypeError, ValueError):
            raise InputError(f"impression {i}: expected a (labels, scores) pair") from None
        labels = _numbers_1d(labels, f"impression {i}: labels")
        scores = _numbers_1d(scores, f"impression {i}: scores")
        if labels.size != scores.size:
            raise InputError(f"impression {i}: {labels.size} labels but {scores.size} scores")
        label_parts.append(labels)
        score_parts.append(scores)
    ptr = np.zeros(len(label_parts) + 1, dtype=np.int64)
    np.cumsum([part.size for part in label_parts], out=ptr[1:])
    # The empty leading parts make concatenate work for zero impressions without changing any value.
    return mind_metrics_csr(
        np.concatenate([np.zeros(0, np.int8), *label_parts]), np.concatenate([np.zeros(0), *score_parts]), ptr
    )


def mind_metrics_csr(labels: np.ndarray, scores: np.ndarray, ptr: np.ndarray) -> dict:
    """:func:`mind_metrics` for impressions in CSR form; impression i is ``labels[ptr[i]:ptr[i + 1]]``.

    ``labels`` (C,) 0/1, ``scores`` (C,) finite, ``ptr`` (n + 1,) integer offsets from 0 to C.
    """
    return mean_metrics(_per_impression(*_checked_csr(labels, scores, ptr)))


def mean_metrics(per: Mapping[str, np.ndarray] | pd.DataFrame) -> dict:
    """Per-impression values (one array or column per metric of :data:`METRICS`, in impression order) to each
    metric's mean over the impressions where it is defined (None if none), ``impressions`` and ``skipped``
    (impressions without an AUC)."""
    result: dict[str, Any] = {}
    for name in METRICS:
        column = np.asarray(per[name], dtype=np.float64)
        values = column[~np.isnan(column)]
        result[name] = float(np.mean(values)) if values.size else None
    auc = np.asarray(per["auc"], dtype=np.float64)
    result["impressions"] = int(auc.size)
    result["skipped"] = int(np.isnan(auc).sum())
    return result


def per_impression_metrics_csr(labels: np.ndarray, scores: np.ndarray, ptr: np.ndarray) -> pd.DataFrame:
    """One row per impression (n rows), a column per metric of :data:`METRICS`; NaN where undefined.

    Inputs as :func:`mind_metrics_csr`. The mean of each column over its non-NaN rows is the aggregate.
    """
    per = _per_impression(*_checked_csr(labels, scores, ptr))
    return pd.DataFrame({name: per[name] for name in METRICS})


def read_leaderboard(
    truth_path: str | Path, prediction_path: str | Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair a MIND truth file with a prediction file, line by line, into CSR arrays.

    Truth lines are ``<impression id> [0,1,0]`` (labels), prediction lines ``<impression id> [3,1,2]``
    (ranks, 1 = top); line i of both files must carry the same impression id and list length. Ranks
    become scores 1/rank, as in the official scorer. Returns labels (C,) int8, scores (C,) float64 and
    ptr (n + 1,) int64. Any problem raises :class:`InputError` with the file and 1-based line.
    """
    truth_path, prediction_path = Path(truth_path), Path(prediction_path)
    labels = array("b")
    ranks = array("q")
    lengths = array("q")
    with ExitStack() as stack:
        truth_lines = _lines(stack.enter_context(_open(truth_path)), truth_path)
        prediction_lines = _lines(stack.enter_context(_open(prediction_path)), prediction_path)
        number = 0
        for number, (truth_line, prediction_line) in enumerate(zip_longest(truth_lines, prediction_lines), 1):
            if truth_line is None:
                raise InputError(
                    f"extra line: {truth_path} has only {number - 1} lines", path=prediction_path, line=number
                )
            if prediction_line is None:
                raise InputError(
                    f"line missing: the file has {number - 1} lines but {truth_path} has more",
                    path=prediction_path,
                    line=number,
                )
            impression_id, line_labels = _parse_line(truth_line, truth_path, number, "labels")
            _check_labels(line_labels, truth_path, number)
            prediction_id, line_ranks = _parse_line(prediction_line, prediction_path, number, "ranks")
            if prediction_id != impression_id:
                raise InputError(
                    f"impression id {prediction_id!r} does not match {impression_id!r} in {truth_path}",
                    path=prediction_path,
                    line=number,
                )
            if len(line_ranks) != len(line_labels):
                raise InputError(
                    f"{len(line_ranks)} ranks but {len(line_labels)} labels in {truth_path}",
                    path=prediction_path,
                    line=number,
                )
            _check_ranks(line_ranks, prediction_path, number)
            labels.extend(line_labels)
            ranks.extend(line_ranks)
            lengths.append(len(line_labels))
    if number == 0:
        raise InputError("file is empty", path=truth_path)
    ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(lengths, dtype=np.int64), out=ptr[1:])
    scores = 1.0 / np.frombuffer(ranks, dtype=np.int64).astype(np.float64)
    return np.frombuffer(labels, dtype=np.int8).copy(), scores, ptr


def rank_lines(impression_ids: np.ndarray, scores: np.ndarray, ptr: np.ndarray) -> list[str]:
    """MIND prediction lines ``<impression id> [r1,r2,...]``: each candidate's rank by score (1 = top, ties by
    position), in the candidates' order. impression_ids (n,), scores (C,), ptr (n + 1,)."""
    lines = []
    for i, impression in enumerate(np.asarray(impression_ids).tolist()):
        block = np.asarray(scores[ptr[i] : ptr[i + 1]])
        ranks = np.empty(len(block), dtype=np.int64)
        ranks[np.argsort(-block, kind="stable")] = np.arange(1, len(block) + 1)
        lines.append(f"{impression} [{','.join(map(str, ranks.tolist()))}]")
    return lines


def score_leaderboard(truth_path: str | Path, prediction_path: str | Path) -> dict:
    """:func:`mind_metrics` of a MIND prediction file against its truth file (see :func:`read_leaderboard`)."""
    return mind_metrics_csr(*read_leaderboard(truth_path, prediction_path))


PREDICTION_FORMATS = ("auto", "ranks", "scores")


def read_predictions(
    source: str | Path | bytes, impression_ids: np.ndarray, ptr: np.ndarray, *, format: str = "auto",
    name: str | None = None, split: str = "dev",
) -> tuple[np.ndarray, str]:
    """An external system's predictions for a split whose impressions are ``impression_ids`` (n,) with candidate
    offsets ``ptr`` (n + 1,): one line per impression, in any order, ``<impression id> [v1,v2,...]`` with one value
    per candidate in the split's candidate order. ``format`` "ranks" (a permutation of 1..n, 1 = top; MIND's
    leaderboard format), "scores" (finite numbers, higher = better) or "auto": ranks when the first non-empty list
    holds only JSON integers, else scores. ``source`` is a file or its bytes (an upload; ``name`` is then what
    messages call it). Returns (scores (C,) float64 in the split's candidate order, ranks as 1/rank, the format).
    Every impression must appear exactly once; any problem raises :class:`InputError` naming the line."""
    if format not in PREDICTION_FORMATS:
        raise InputError(f"unknown prediction format {format!r}; choose one of {', '.join(PREDICTION_FORMATS)}")
    where = Path(name or ("upload" if isinstance(source, bytes) else str(source)))
    position = {str(impression): i for i, impression in enumerate(np.asarray(impression_ids).tolist())}
    scores = np.zeros(int(ptr[-1]), dtype=np.float64)
    first_line = np.zeros(len(position), dtype=np.int64)  # 0 = not seen yet
    number = 0
    with ExitStack() as stack:
        handle = io.BytesIO(source) if isinstance(source, bytes) else stack.enter_context(_open(Path(source)))
        for number, text in enumerate(_lines(handle, where), 1):
            impression_id, values = _parse_line(text, where, number, "ranks or scores")
            i = position.get(impression_id)
            if i is None:
                raise InputError(f"impression id {impression_id!r} is not in the {split} split", path=where,
                                 line=number)
            if first_line[i]:
                raise InputError(f"impression id {impression_id!r} appears twice (first on line {first_line[i]})",
                                 path=where, line=number)
            start, stop = int(ptr[i]), int(ptr[i + 1])
            if len(values) != stop - start:
                raise InputError(f"{len(values)} values but impression {impression_id} has {stop - start} "
                                 f"candidates in the {split} split", path=where, line=number)
            if format == "auto" and values:
                format = "ranks" if all(type(value) is int for value in values) else "scores"
            if format == "ranks":
                _check_ranks(values, where, number)
                scores[start:stop] = [1.0 / rank for rank in values]
            else:
                _check_scores(values, where, number)
                scores[start:stop] = values
            first_line[i] = number
    if number == 0:
        raise InputError("file is empty", path=where)
    missing = np.flatnonzero(first_line == 0)
    if missing.size:
        first = np.asarray(impression_ids)[missing[0]]
        raise InputError(f"{missing.size} of the {len(first_line)} impressions of the {split} split are missing from "
                         f"the file (the first: {first})", path=where)
    return scores, "ranks" if format == "auto" else format


# --------------------------------------------------------------------------- validation


def _numbers_1d(values: Any, what: str) -> np.ndarray:
    try:
        array_ = np.asarray(values)
    except (TypeError, ValueError):
        array_ = None
    if array_ is None or array_.ndim != 1 or array_.dtype.kind not in "biuf":
        raise InputError(f"{what} must be a flat sequence of numbers")
    return array_


def _show(value: np.generic) -> str:
    """A bad value as the user wrote it: label 2 stays "2" even where other impressions made the array float."""
    number = value.item()
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    return repr(number)


def _impression_of(ptr: np.ndarray, position: int) -> tuple[int, int]:
    """(impression, candidate) of flat ``position``; empty impressions share an offset, so search right."""
    impression = int(np.searchsorted(ptr, position, side="right")) - 1
    return impression, position - int(ptr[impression])


def _checked_csr(labels: Any, scores: Any, ptr: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate CSR input; returns labels (C,) int8, scores (C,) float64, ptr (n + 1,) int64."""
    labels = _numbers_1d(labels, "labels")
    scores = _numbers_1d(scores, "scores")
    ptr = np.asarray(ptr)
    if ptr.ndim != 1 or ptr.size == 0 or ptr.dtype.kind not in "iu":
        raise InputError("ptr must be a flat integer array of n + 1 offsets")
    ptr = ptr.astype(np.int64)
    if labels.size != scores.size:
        raise InputError(f"{labels.size} labels but {scores.size} scores")
    if ptr[0] != 0 or ptr[-1] != labels.size:
        raise InputError(f"ptr must run from 0 to {labels.size} (the number of candidates)")
    decreasing = np.flatnonzero(np.diff(ptr) < 0)
    if decreasing.size:
        raise InputError(f"ptr decreases at impression {int(decreasing[0])}")
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if bad.size:
        impression, candidate = _impression_of(ptr, int(bad[0]))
        raise InputError(
            f"impression {impression}: label {_show(labels[bad[0]])} of candidate {candidate} is not 0 or 1"
        )
    scores = scores.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        impression, candidate = _impression_of(ptr, int(bad[0]))
        raise InputError(
            f"impression {impression}: score {_show(scores[bad[0]])} of candidate {candidate} is not finite"
        )
    return labels.astype(np.int8), scores, ptr


# --------------------------------------------------------------------------- the math


def _per_impression(labels: np.ndarray, scores: np.ndarray, ptr: np.ndarray) -> dict[str, np.ndarray]:
    """Per-impression metrics (n,) each, NaN where undefined, for validated CSR input."""
    n = ptr.size - 1
    per = {name: np.full(n, np.nan) for name in METRICS}
    for length, rows in _equal_length_blocks(np.diff(ptr)):
        positions = ptr[rows, None] + np.arange(length)
        for name, values in _block_metrics(labels[positions], scores[positions]).items():
            per[name][rows] = values
    return per


def _equal_length_blocks(lengths: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(length, impression indices) for blocks of impressions of one length, at most BLOCK_CANDIDATES each."""
    by_length = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[by_length]
    bounds = np.flatnonzero(np.diff(sorted_lengths, prepend=-1, append=-1))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        length = int(sorted_lengths[start])
        if length == 0:
            continue  # no candidates: every metric stays undefined
        step = max(1, BLOCK_CANDIDATES // length)
        for first in range(start, stop, step):
            yield length, by_length[first : min(stop, first + step)]


def _block_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of g impressions of one length L: labels (g, L) 0/1 and scores (g, L) -> arrays (g,)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    y = np.take_along_axis(labels, order, axis=1).astype(np.float64)
    clicks = y.sum(axis=1)
    block = RankedBlock(y, np.take_along_axis(scores, order, axis=1), clicks, clicks > 0)
    return {metric.name: metric.compute(block) for metric in METRIC_UNITS}


def _sklearn_auc(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ROC AUC per row of y (g, L) 0/1 in descending score order s (g, L); each row has both classes.

    Mirrors ``roc_curve`` + ``auc``: a point at the last candidate of each run of equal scores, collinear
    points dropped (``drop_intermediate``), (0, 0) prepended, trapezoids summed over each row's own points.
    """
    g, length = y.shape
    tps = np.cumsum(y, axis=1)
    fps = np.arange(1, length + 1) - tps
    positives = tps[:, -1:].copy()
    negatives = length - positives

    is_threshold = np.ones((g, length), dtype=bool)
    np.not_equal(s[:, :-1], s[:, 1:], out=is_threshold[:, :-1])
    if is_threshold.all():  # no tied scores, the usual case: every candidate is a point already
        n_points = np.full(g, length)
    else:
        n_points, fps, tps = _compact_left(is_threshold, fps, tps)

    keep = np.zeros((g, length), dtype=bool)
    keep[:, 0] = True
    keep[np.arange(g), n_points - 1] = True
    if length > 2:
        # A point in the middle stays where the curve turns: a non-zero second difference of fps or tps.
        turns = (np.diff(fps, 2, axis=1) != 0) | (np.diff(tps, 2, axis=1) != 0)
        keep[:, 1:-1] |= turns & (np.arange(1, length - 1) < n_points[:, None] - 1)
    n_kept, fps, tps = _compact_left(keep, fps, tps)

    fpr = np.zeros((g, length + 1))
    tpr = np.zeros((g, length + 1))
    np.divide(fps, negatives, out=fpr[:, 1:])
    np.divide(tps, positives, out=tpr[:, 1:])
    trapezoids = (fpr[:, 1:] - fpr[:, :-1]) * (tpr[:, 1:] + tpr[:, :-1]) / 2.0
    return _prefix_sums(trapezoids, n_kept)


def _compact_left(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Move each row's masked entries to its front, in order; returns (count per row (g,), *moved arrays)."""
    order = np.argsort(~mask, axis=1, kind="stable")
    return (mask.sum(axis=1), *(np.take_along_axis(a, order, axis=1) for a in arrays))


def _prefix_sums(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``values[i, :counts[i]].sum()`` for each row of values (g, W), summed as np.sum sums that prefix alone."""
    sums = np.empty(values.shape[0])
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        sums[rows] = values[rows, :count].sum(axis=1)
    return sums


# --------------------------------------------------------------------------- leaderboard files


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise InputError("missing file", path=path)
    if path.is_dir():
        raise InputError("is a directory where a file was expected", path=path)
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None


def _lines(handle: BinaryIO, path: Path) -> Iterator[str]:
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("bytes that are not UTF-8", path=path, line=number) from None
        yield text.rstrip("\r\n")


def _parse_line(text: str, path: Path, number: int, what: str) -> tuple[str, list]:
    parts = text.split(None, 1)
    if len(parts) != 2:
        raise InputError(f"expected '<impression id> <JSON list of {what}>'", path=path, line=number)
    impression_id, payload = parts
    try:
        values = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise InputError(f"malformed JSON list of {what}: {detail}", path=path, line=number) from None
    if not isinstance(values, list):
        raise InputError(f"expected a JSON list of {what}, got {json.dumps(values)[:40]}", path=path, line=number)
    return impression_id, values


def _check_labels(labels: list, path: Path, number: int) -> None:
    for value in labels:
        # bool is an int subclass, but JSON true/false is not a label.
        if type(value) is not int or value not in (0, 1):
            raise InputError(f"labels must be 0 or 1, got {json.dumps(value)[:40]}", path=path, line=number)


def _check_scores(scores: list, path: Path, number: int) -> None:
    for value in scores:
        # JSON true/false parse as bool (an int subclass) and NaN/Infinity as floats: none is a score.
        if type(value) not in (int, float) or not math.isfinite(value):
            raise InputError(f"scores must be finite numbers, got {json.dumps(value)[:40]}", path=path, line=number)


def _check_ranks(ranks: list, path: Path, number: int) -> None:
    n = len(ranks)
    seen = bytearray(n + 1)
    for rank in ranks:
        if type(rank) is not int:
            problem = f"{json.dumps(rank)[:40]} is not a whole number"
        elif not 1 <= rank <= n:
            problem = f"rank {rank} is outside 1..{n}"
        elif seen[rank]:
            problem = f"rank {rank} appears twice"
        else:
            seen[rank] = 1
            continue
        raise InputError(f"ranks must be a permutation of 1..{n}: {problem}", path=path, line=number)
