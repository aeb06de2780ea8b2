"""Beyond accuracy: measures of the top-k lists a recommender serves, one number per measure.

Input: n users' lists (:class:`ServedLists`, catalogue rows best first) and what is known of the A catalogue
articles (:class:`Catalogue`). Each measure is one :class:`Measure` in :data:`MEASURE_UNITS`, the one place it is
declared; results, the CLI JSON and the dashboard table follow that order.

Definitions (a "list mean" is a mean over each list's items, then a plain mean over the lists, so every user
weighs the same; padding slots, -1, are not items):

- coverage: distinct articles served in any list / A.
- diversity (intra-list): 1 - the mean cosine similarity of the text vectors of each pair of items in a list,
  list mean over lists with at least two items. An article without a text vector (a zero row) has cosine 0 with
  everything.
- novelty: list mean of the self-information -log2 p(i) of each item, with p(i) its share of the training clicks,
  add-one smoothed so that never-clicked articles are finite: p(i) = (clicks_i + 1) / (total clicks + A).
- popularity (average recommendation popularity): list mean of each item's training clicks.
- exposure Gini: the Gini index of how often each of the A articles was served (never-served articles count as
  0): 0 when every article is served equally often, towards 1 when a few take all the exposure.
- personalisation: 1 - the mean Jaccard overlap |a & b| / |a | b| between two users' lists, over every pair of
  users when there are at most :data:`PAIR_LIMIT` pairs, else over :data:`PAIR_LIMIT` random pairs of distinct
  users (seeded; :func:`user_pairs` says which).
- freshness: list mean of each item's age in hours at the time its list was served (serving time minus first
  seen); items first seen later than that time, or never, have no age and are left out.
- new-article exposure: the share of all served items that are articles first seen after training.

Undefined measures (no lists, no pairs, no dated item) are NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recengine.errors import InputError

PAIR_LIMIT = 100_000  # user pairs for personalisation: all pairs up to this many, else a seeded sample of this many
PAIR_BATCH = 20_000  # pairs compared at once ((batch, k, k) booleans)
LIST_BATCH = 1024  # lists whose text vectors are gathered at once ((batch, k, T) floats)
UNDATED = int(np.iinfo(np.int64).min)  # first-seen time of an article never shown (the catalogue's UNKNOWN_TIME)


@dataclass(frozen=True)
class ServedLists:
    """``items`` (n, k) int64 catalogue rows, best first, -1 padding a shorter list (no row twice in a list);
    ``times`` (n,) int64 unix seconds each list was served at; ``seed`` for sampling user pairs."""

    items: np.ndarray
    times: np.ndarray
    seed: int = 0


@dataclass(frozen=True)
class Catalogue:
    """The A articles lists are drawn from: ``vectors`` (A, T) text vectors (zero row: no text), ``clicks`` (A,)
    training clicks, ``first_seen`` (A,) unix seconds (:data:`UNDATED` when never shown) and ``after_training``
    (A,) bool, first seen after the training period."""

    vectors: np.ndarray
    clicks: np.ndarray
    first_seen: np.ndarray
    after_training: np.ndarray

    def __len__(self) -> int:
        return len(self.clicks)


@dataclass(frozen=True)
class Measure:
    """One beyond-accuracy measure: its key, how it is shown, a one-line plain explanation, whether it is a share
    (shown as a percentage) and ``compute(lists, catalogue) -> float`` (NaN where undefined)."""

    name: str
    label: str
    description: str
    compute: Callable[[ServedLists, Catalogue], float]
    share: bool = False


def _mask(lists: ServedLists) -> np.ndarray:
    return lists.items >= 0


def _list_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean over lists (rows with an item) of each row's mean over its masked entries; NaN without any."""
    counts = mask.sum(axis=1)
    rows = counts > 0
    if not rows.any():
        return float("nan")
    sums = np.where(mask, values, 0.0).sum(axis=1)
    return float(np.mean(sums[rows] / counts[rows]))


def coverage(lists: ServedLists, catalogue: Catalogue) -> float:
    served = np.unique(lists.items[_mask(lists)])
    return len(served) / len(catalogue) if len(catalogue) else float("nan")


def diversity(lists: ServedLists, catalogue: Catalogue) -> float:
    vectors = np.asarray(catalogue.vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    mask = _mask(lists)
    size = mask.sum(axis=1)
    pairs = size * (size - 1) / 2
    off_diagonal = np.zeros(len(mask))
    for start in range(0, len(mask), LIST_BATCH):
        part = slice(start, start + LIST_BATCH)
        picked = unit[np.where(mask[part], lists.items[part], 0)] * mask[part, :, None]  # (b, k, T), padding zeroed
        cosine = picked @ picked.transpose(0, 2, 1)  # (b, k, k)
        off_diagonal[part] = (cosine.sum(axis=(1, 2)) - np.trace(cosine, axis1=1, axis2=2)) / 2
    rows = pairs > 0
    if not rows.any():
        return float("nan")
    return float(np.mean(1.0 - off_diagonal[rows] / pairs[rows]))


def novelty(lists: ServedLists, catalogue: Catalogue) -> float:
    clicks = np.asarray(catalogue.clicks, dtype=np.float64)
    information = -np.log2((clicks + 1) / (clicks.sum() + len(clicks)))
    mask = _mask(lists)
    return _list_mean(information[np.where(mask, lists.items, 0)], mask)


def popularity(lists: ServedLists, catalogue: Catalogue) -> float:
    mask = _mask(lists)
    return _list_mean(np.asarray(catalogue.clicks, dtype=np.float64)[np.where(mask, lists.items, 0)], mask)


def exposure_gini(lists: ServedLists, catalogue: Catalogue) -> float:
    exposure = np.sort(np.bincount(lists.items[_mask(lists)], minlength=len(catalogue))).astype(np.float64)
    total = exposure.sum()
    if not total:
        return float("nan")
    a = len(exposure)
    return float(np.sum((2 * np.arange(1, a + 1) - a - 1) * exposure) / (a * total))


def user_pairs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
    """The user pairs personalisation compares: (first (P,), second (P,), sampled). Every pair i < j when there
    are at most PAIR_LIMIT, else PAIR_LIMIT pairs of distinct users drawn with ``seed``."""
    if n * (n - 1) // 2 <= PAIR_LIMIT:
        first, second = np.triu_indices(n, k=1)
        return first, second, False
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, PAIR_LIMIT)
    second = (first + rng.integers(1, n, PAIR_LIMIT)) % n  # never the same user
    return first, second, True


def personalisation(lists: ServedLists, catalogue: Catalogue) -> float:
    first, second, _ = user_pairs(len(lists.items), lists.seed)
    if not len(first):
        return float("nan")
    items, sizes = lists.items, _mask(lists).sum(axis=1)
    overlaps = []
    for start in range(0, len(first), PAIR_BATCH):
        a, b = items[first[start:start + PAIR_BATCH]], items[second[start:start + PAIR_BATCH]]
        common = ((a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)).sum(axis=(1, 2))
        union = sizes[first[start:start + PAIR_BATCH]] + sizes[second[start:start + PAIR_BATCH]] - common
        # Two empty lists overlap completely (nothing distinguishes them).
        overlaps.append(np.divide(common, union, out=np.ones(len(common)), where=union > 0))
    return float(1.0 - np.mean(np.concatenate(overlaps)))


def freshness(lists: ServedLists, catalogue: Catalogue) -> float:
    mask = _mask(lists)
    first = np.asarray(catalogue.first_seen, dtype=np.int64)[np.where(mask, lists.items, 0)]
    age = (np.asarray(lists.times, dtype=np.int64)[:, None] - first) / 3600.0
    dated = mask & (first != UNDATED) & (age >= 0)
    return _list_mean(age, dated)


def new_article_share(lists: ServedLists, catalogue: Catalogue) -> float:
    served = lists.items[_mask(lists)]
    return float(np.asarray(catalogue.after_training)[served].mean()) if len(served) else float("nan")


# The one place a measure is declared, in the order every result shows them.
MEASURE_UNITS = (
    Measure("coverage", "Catalogue coverage", "share of all articles that appear in at least one list",
            coverage, share=True),
    Measure("diversity", "Intra-list diversity", "how different the articles of one list are from each other "
            "(1 - mean text similarity; higher = more varied)", diversity),
    Measure("novelty", "Novelty", "how unexpected the articles are, in bits (higher = less popular articles)",
            novelty),
    Measure("popularity", "Average popularity", "training clicks of a recommended article, on average", popularity),
    Measure("exposure_gini", "Exposure inequality (Gini)",
            "0 = every article shown equally often, near 1 = a few articles take all the slots", exposure_gini),
    Measure("personalisation", "Personalisation", "how different two readers' lists are (0 = everyone gets the "
            "same list, 1 = no article in common)", personalisation),
    Measure("freshness", "Article age (hours)", "how old a recommended article is when shown, on average",
            freshness),
    Measure("new_articles", "New-article exposure", "share of the slots given to articles first seen after training",
            new_article_share, share=True),
)
MEASURES = tuple(measure.name for measure in MEASURE_UNITS)


def check_lists(lists: ServedLists, catalogue: Catalogue) -> None:
    """Raise InputError unless ``lists`` fit ``catalogue`` (shapes, rows in range, no row twice in a list)."""
    items, times = np.asarray(lists.items), np.asarray(lists.times)
    if items.ndim != 2 or items.dtype.kind not in "iu":
        raise InputError("served lists must be an (n, k) integer array of catalogue rows")
    if times.shape != (len(items),):
        raise InputError(f"{len(items)} lists but {times.size} serving times")
    if items.size and (items.min() < -1 or items.max() >= len(catalogue)):
        raise InputError(f"served lists name rows outside the catalogue of {len(catalogue)} articles")
    ordered = np.sort(items, axis=1)
    if ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any():
        raise InputError("a served list holds the same article twice")


def beyond_metrics(lists: ServedLists, catalogue: Catalogue) -> dict:
    """Every measure of :data:`MEASURE_UNITS` (None where undefined), plus ``lists`` (n), ``pairs`` (user pairs
    personalisation compared) and ``pairs_sampled``."""
    check_lists(lists, catalogue)
    result: dict = {}
    for measure in MEASURE_UNITS:
        value = measure.compute(lists, catalogue)
        result[measure.name] = None if np.isnan(value) else float(value)
    first, _, sampled = user_pairs(len(lists.items), lists.seed)
    return {**result, "lists": int(len(lists.items)), "pairs": int(len(first)), "pairs_sampled": sampled}
