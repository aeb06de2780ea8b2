"""Evaluate a recommender on a split: the model beside a random scorer and the oracle, overall and by slice.

Slices (:data:`SLICE_UNITS`) restrict each impression to part of it (MIND's per-impression metrics are then
averaged as usual; impressions left single-class are skipped for AUC and counted).

Slice groups (:data:`SLICE_GROUP_UNITS`: category, history length, article age, user activity) cut the same way,
one slice per value, each with its random and oracle values. What they cut by (:class:`SliceFacts`) comes from a
model (:func:`model_slice_facts`: who and what it trained on) or from the data alone (:func:`data_slice_facts`,
for an external system's predictions). Buckets: history length 0 / 1-4 / 5-19 / 20+ clicks; article age under 6 /
6-12 / 12-24 / 24-48 / 48+ hours since the article's first impression in train or the evaluated split (MIND has
no publication times; the model's freshness bonus reads the same first-seen time); user activity 0 / 1-2 / 3-9 /
10+ impressions of the reader in the train split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from recengine.eval.metrics import mean_metrics, mind_metrics_csr, per_impression_metrics_csr
from recengine.eval.significance import metric_intervals
from recengine.eval.reliability import reliability_report
from recengine.model.catalog import UNKNOWN_TIME
from recengine.model.interactions import Interactions

if TYPE_CHECKING:
    from recengine.data.mind import Behaviors
    from recengine.model.catalog import Catalog
    from recengine.model.recommender import Recommender



@dataclass(frozen=True)
class Slice:
    """A part of every impression: ``keep(warm_user (n,), warm_article (C,), owner_warm (C,))`` gives the
    impressions (n,) and candidates (C,) it keeps, from who and what was seen in training."""

    name: str
    label: str
    description: str
    keep: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# The one place a slice is declared; results, tables and plots follow this order.
SLICE_UNITS = (
    Slice("warm", "warm", "users seen in training, candidates seen in training",
          lambda warm_user, warm_article, owner_warm: (warm_user, owner_warm & warm_article)),
    Slice("new_articles", "new articles", "all users, candidates never seen in training (zero-shot)",
          lambda warm_user, warm_article, owner_warm: (np.ones(len(warm_user), dtype=bool), ~warm_article)),
    Slice("cold_users", "cold users", "users never seen in training, all candidates",
          lambda warm_user, warm_article, owner_warm: (~warm_user, ~owner_warm)),
)
SLICES = tuple(s.name for s in SLICE_UNITS)


@dataclass(frozen=True)
class SliceFacts:
    """What the slices are cut by, for one split's n impressions and C candidates (in its candidate order)."""

    candidate_rows: np.ndarray  # (C,) impression index of every candidate
    warm_user: np.ndarray  # (n,) bool: the user was seen in training
    warm_article: np.ndarray  # (C,) bool: the candidate article was seen in training
    history_length: np.ndarray  # (n,) int: clicks in the impression's history
    category: np.ndarray  # (C,) object: the candidate's category, "" when unknown
    age_hours: np.ndarray  # (C,) float: hours from the candidate's first impression to this one; NaN unknown
    train_impressions: np.ndarray | None = None  # (n,) int: the user's impressions in train; None when unknown

    def masks(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The standard slices (:data:`SLICE_UNITS`): per slice (impressions kept (n,), candidates kept (C,))."""
        owner_warm = self.warm_user[self.candidate_rows]
        return {s.name: s.keep(self.warm_user, self.warm_article, owner_warm) for s in SLICE_UNITS}


@dataclass(frozen=True)
class SliceGroup:
    """A family of slices that partitions the impressions (``level`` "impression") or, within every impression,
    the candidates ("candidate"). ``cut(facts)`` gives one integer code per impression or candidate (-1: in no
    value) and the value labels, in display order; None when the facts lack what the group needs."""

    name: str
    label: str
    description: str
    level: str
    cut: Callable[[SliceFacts], tuple[np.ndarray, list[str]] | None]
    order: tuple[str, ...] = ()  # the values in display order; empty: most impressions first


def _buckets(values: np.ndarray, edges: tuple[float, ...], labels: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Code i for edges[i-1] <= value < edges[i] (edges[-1] = inf is implied); NaN gets -1."""
    codes = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.where(np.isnan(values), -1, codes).astype(np.int64), list(labels)


def _categories(facts: SliceFacts) -> tuple[np.ndarray, list[str]]:
    """Candidates by category, the most frequent first; an unknown category is "(none)"."""
    codes, names = pd.factorize(facts.category, use_na_sentinel=False)  # hashed, no sort of the strings
    names = ["(none)" if name is None or name != name or name == "" else str(name) for name in names]
    # Summed by name: two spellings of unknown ("" and None) are one value.
    totals = pd.Series(np.bincount(codes, minlength=len(names)), index=names).groupby(level=0).sum()
    labels = sorted(totals.index, key=lambda name: (-totals[name], name))
    remap = np.array([labels.index(name) for name in names], dtype=np.int64)
    return remap[codes], labels


# Bucket edges: history length in clicks; article age in hours since the article's first impression (MIND has no
# publication time); user activity in the user's train impressions (0: a user new to training).
HISTORY_EDGES, HISTORY_LABELS = (1, 5, 20), ("0", "1-4", "5-19", "20+")
AGE_EDGES, AGE_LABELS = (6, 12, 24, 48), ("under 6 h", "6-12 h", "12-24 h", "24-48 h", "48 h or more")
ACTIVITY_EDGES, ACTIVITY_LABELS = (1, 3, 10), ("0 (new)", "1-2", "3-9", "10+")

# The one place a slice group is declared; results, tables and the chart follow this order.
SLICE_GROUP_UNITS = (
    SliceGroup("category", "category", "the candidates of one category in each impression", "candidate",
               _categories),
    SliceGroup("history_length", "history length", "impressions by how many clicks the reader's history holds",
               "impression", lambda f: _buckets(f.history_length.astype(np.float64), HISTORY_EDGES, HISTORY_LABELS),
               HISTORY_LABELS),
    SliceGroup("article_age", "article age", "the candidates by hours since the article was first shown",
               "candidate", lambda f: _buckets(f.age_hours, AGE_EDGES, AGE_LABELS), AGE_LABELS),
    SliceGroup("user_activity", "user activity", "impressions by how many training impressions the reader had",
               "impression", lambda f: None if f.train_impressions is None
               else _buckets(f.train_impressions.astype(np.float64), ACTIVITY_EDGES, ACTIVITY_LABELS),
               ACTIVITY_LABELS),
)
SLICE_GROUPS = tuple(g.name for g in SLICE_GROUP_UNITS)


def _train_counts(user_ids: np.ndarray, train_users: np.ndarray | None) -> np.ndarray | None:
    """(n,) how many train impressions each impression's user had (``train_users``: the user of every one)."""
    if train_users is None:
        return None
    counts = pd.Series(np.asarray(train_users, dtype=object)).value_counts()
    return pd.Series(np.asarray(user_ids, dtype=object)).map(counts).fillna(0).to_numpy(dtype=np.int64)


def _age_hours(times: np.ndarray, first_seen: np.ndarray) -> np.ndarray:
    """Hours from first-seen to the impression (unix seconds, int64); NaN where first-seen is unknown."""
    known = first_seen != UNKNOWN_TIME
    return np.where(known, (times - np.where(known, first_seen, 0)) / 3600.0, np.nan)


def model_slice_facts(
    recommender: "Recommender", inter: Interactions, *, train_users: np.ndarray | None = None
) -> SliceFacts:
    """Slice facts from what a model knows: who and what it trained on, its catalogue's categories and first-seen
    times. ``train_users``: the user id of every train impression (for user activity; None leaves it out)."""
    owner = inter.candidate_rows
    catalog = recommender.catalog
    return SliceFacts(
        candidate_rows=owner,
        warm_user=recommender.trained_users(inter.user_rows),
        warm_article=recommender.trained_articles()[inter.candidates],
        history_length=np.diff(inter.history_ptr),
        category=catalog.frame["category"].to_numpy(dtype=object)[inter.candidates],
        age_hours=_age_hours(inter.times[owner], catalog.first_seen[inter.candidates]),
        train_impressions=_train_counts(inter.user_ids, train_users),
    )


def data_slice_facts(train: "Behaviors", part: "Behaviors", categories: pd.Series) -> SliceFacts:
    """Slice facts from the data alone, no model (an external system's predictions): "seen in training" is a user
    with a train impression or an article in a train history or candidate list; first-seen times are each
    article's earliest impression in train or ``part``. ``categories``: news id -> category. Candidates are in
    ``part``'s own (behaviors.tsv) order."""
    # Everything is computed per id of part's vocabularies (articles, users), then indexed by the codes.
    seen = train.articles[np.unique(np.concatenate([train.history, train.candidates]))]
    first = np.fmin(_first_shown(part), pd.Series(_first_shown(train), index=train.articles)
                    .reindex(part.articles).to_numpy(dtype=np.float64))
    times = part.times.astype("datetime64[s]").astype(np.int64)
    counts = pd.Series(np.bincount(train.user_index, minlength=len(train.users)), index=train.users)
    per_user = counts[counts > 0].reindex(part.users).fillna(0).to_numpy(dtype=np.int64)
    owner = part.candidate_rows
    return SliceFacts(
        candidate_rows=owner,
        warm_user=(per_user > 0)[part.user_index],
        warm_article=pd.Index(part.articles).isin(seen)[part.candidates],  # hashed: np.isin on objects is quadratic
        history_length=np.diff(part.history_ptr),
        category=categories.reindex(part.articles).fillna("").to_numpy(dtype=object)[part.candidates],
        age_hours=(times[owner] - first[part.candidates]) / 3600.0,
        train_impressions=per_user[part.user_index],
    )


def _first_shown(behaviors: "Behaviors") -> np.ndarray:
    """(A,) unix seconds of each article code's earliest impression as a candidate; NaN if never a candidate."""
    seconds = behaviors.times.astype("datetime64[s]").astype(np.int64)[behaviors.candidate_rows].astype(np.float64)
    first = np.full(len(behaviors.articles), np.inf)
    np.minimum.at(first, behaviors.candidates, seconds)
    return np.where(np.isinf(first), np.nan, first)


def align_truth(inter: Interactions, catalog: "Catalog", truth: pd.DataFrame) -> np.ndarray:
    """(C,) true click probability of every candidate, matched on (impression id, article id); NaN if absent."""
    owner = inter.candidate_rows
    keys = pd.DataFrame(
        {
            "impression_id": inter.impression_ids[owner],
            "news_id": np.asarray(catalog.articles.ids, dtype=object)[inter.candidates],
        }
    )
    unique_truth = truth.drop_duplicates(["impression_id", "news_id"])
    merged = keys.merge(unique_truth, on=["impression_id", "news_id"], how="left", sort=False)
    return merged["probability"].to_numpy(dtype=np.float64)


def _restrict(inter: Interactions, impressions: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR offsets and the flat candidate index of the kept candidates of the kept impressions."""
    keep = candidates & impressions[inter.candidate_rows]
    rows = inter.candidate_rows[keep]
    ptr = np.zeros(len(inter) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(inter)), out=ptr[1:])
    # Impressions without candidates left are dropped from the offsets entirely.
    nonempty = np.diff(ptr) > 0
    ptr = np.concatenate([[0], ptr[1:][nonempty]])
    return ptr, np.flatnonzero(keep)


def random_scores(count: int, seed: int = 0) -> np.ndarray:
    """The random scorer every figure is set beside: (count,) uniform scores from a generator seeded ``seed``."""
    return np.random.default_rng(seed).random(count)


def evaluate_scores(
    inter: Interactions,
    scores: np.ndarray,
    masks: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    truth: np.ndarray | None = None,
    seed: int = 0,
    facts: SliceFacts | None = None,
) -> dict:
    """Metrics of given (C,) scores beside random and oracle, overall and per slice.

    Returns ``{"model", "random", "oracle", "slices": {name: M}, "baselines": {name: {"random": M, "oracle": M}}}``;
    with ``facts`` (which also give the standard ``masks`` when those are None) also ``"slice_groups"`` (see
    :func:`slice_groups`).
    """
    has_truth = truth is not None and len(truth) == len(scores) and not np.isnan(truth).any()
    scorers = {"model": scores, "random": random_scores(len(scores), seed)}
    if has_truth:
        scorers["oracle"] = truth
    # Per-impression values once per scorer: the overall means, and the impression-level slice groups, read them.
    per_impression = {name: per_impression_metrics_csr(inter.labels, s, inter.candidate_ptr)
                      for name, s in scorers.items()}
    full = {name: mean_metrics(frame) for name, frame in per_impression.items()}
    result = {"model": full["model"], "random": full["random"], "oracle": full.get("oracle"), "slices": {}, "baselines": {}}
    result["ci"] = metric_intervals(per_impression["model"])  # the model's 95% bootstrap interval per metric
    if masks is None and facts is not None:
        masks = facts.masks()
    for name, (impressions, candidates) in (masks or {}).items():
        ptr, index = _restrict(inter, impressions, candidates)
        per = {scorer: mind_metrics_csr(inter.labels[index], s[index], ptr) for scorer, s in scorers.items()}
        result["slices"][name] = per["model"]
        result["baselines"][name] = {"random": per["random"], "oracle": per.get("oracle")}
    if facts is not None:
        result["slice_groups"] = slice_groups(inter, scorers, facts, per_impression)
    return result


def slice_groups(
    inter: Interactions, scorers: dict[str, np.ndarray], facts: SliceFacts,
    per_impression: dict[str, pd.DataFrame] | None = None,
) -> dict[str, dict[str, dict]]:
    """Every group of :data:`SLICE_GROUP_UNITS` the facts allow: ``{group: {value: {"impressions": n, "model": M,
    "random": M, "oracle": M or None}}}``. Each value is scored as :func:`evaluate_scores` scores a slice (the
    kept candidates of each impression; impressions left without candidates dropped), so M matches
    :func:`mind_metrics_csr` on the restricted impressions exactly. ``per_impression``: the scorers' values on the
    whole impressions when already computed."""
    sizes = np.diff(inter.candidate_ptr)
    out: dict[str, dict[str, dict]] = {}
    for group in SLICE_GROUP_UNITS:
        cut = group.cut(facts)
        if cut is None:
            continue
        codes, labels = cut
        if group.level == "impression":
            if per_impression is None:
                per_impression = {n: per_impression_metrics_csr(inter.labels, s, inter.candidate_ptr)
                                  for n, s in scorers.items()}
            frames, owner = per_impression, np.where(sizes > 0, codes, -1)
        else:
            order, ptr, owner = _sub_impressions(inter.candidate_rows, codes, len(inter))
            frames = {n: per_impression_metrics_csr(inter.labels[order], s[order], ptr) for n, s in scorers.items()}
        # Rows grouped by value once (a stable sort keeps impression order), then each value is a contiguous run.
        by_value = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[by_value], np.arange(len(labels) + 1) - 0.5)
        columns = {n: {m: frame[m].to_numpy()[by_value] for m in frame.columns} for n, frame in frames.items()}
        out[group.name] = {}
        for code, label in enumerate(labels):
            run = slice(bounds[code], bounds[code + 1])
            summary = {n: mean_metrics({m: a[run] for m, a in arrays.items()}) for n, arrays in columns.items()}
            out[group.name][label] = {"impressions": int(run.stop - run.start), "model": summary["model"],
                                      "random": summary["random"], "oracle": summary.get("oracle")}
    return out


def _sub_impressions(
    candidate_rows: np.ndarray, codes: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each impression split by candidate code into sub-impressions, grouped by code and then by impression (the
    candidates' order kept): (candidate order (K,), CSR offsets (m + 1,), the code of each sub-impression (m,))."""
    kept = np.flatnonzero(codes >= 0)
    order = kept[np.argsort(codes[kept], kind="stable")]
    key = codes[order] * n + candidate_rows[order]
    starts = np.flatnonzero(np.diff(key, prepend=-1))
    return order, np.append(starts, len(order)).astype(np.int64), codes[order][starts]


def evaluate_interactions(
    recommender: "Recommender", inter: Interactions, *, truth: np.ndarray | None = None, seed: int = 0,
    train_users: np.ndarray | None = None,
) -> dict:
    """Score every candidate with the model, then :func:`evaluate_scores` with the standard slices and the slice
    groups, and the reliability of its click probabilities (``"reliability"``, see
    :func:`recengine.eval.reliability.reliability_report`). ``train_users``: the user id of every train impression
    (for the user-activity slices; None leaves them out)."""
    scores = recommender.score(inter)
    facts = model_slice_facts(recommender, inter, train_users=train_users)
    result = evaluate_scores(inter, scores, truth=truth, seed=seed, facts=facts)
    result["reliability"] = reliability_report(scores, recommender.calibration, inter.labels, truth)
    return result


def train_impression_users(*parts: Interactions | None) -> np.ndarray:
    """The user id of every impression of the given training parts (e.g. fit and validation): what
    :func:`evaluate_interactions` counts a user's activity from."""
    users = [np.asarray(p.user_ids, dtype=object) for p in parts if p is not None]
    return np.concatenate(users) if users else np.empty(0, dtype=object)


def share_of_oracle(model: float | None, random: float | None, oracle: float | None) -> float | None:
    """How far the model got from random to oracle: 0 = random, 1 = oracle."""
    if model is None or random is None or oracle is None or oracle == random:
        return None
    return (model - random) / (oracle - random)


STANDARD_GROUP = "seen in training"  # the group label of the standard slices in :func:`slice_table`
SLICE_TABLE_COLUMNS = ("group", "value", "impressions", "scored", "model", "random", "oracle", "share_of_oracle")


def slice_table(result: dict, metric: str = "auc") -> pd.DataFrame:
    """``metric`` per slice of an evaluation result, one row per slice value (columns :data:`SLICE_TABLE_COLUMNS`):
    overall first, then the standard slices, then every slice group present (an old result has none), values in
    the group's order (stored JSON may have sorted them). ``scored``: the impressions with both a click and a
    non-click (the ones AUC averages over); ``share_of_oracle`` is :func:`share_of_oracle` (0 = random, 1 =
    oracle)."""
    get = lambda block: None if not block else block.get(metric)  # noqa: E731
    rows = [("overall", "all impressions", result["model"].get("impressions"), result["model"], result.get("random"),
             result.get("oracle"))]
    for unit in SLICE_UNITS:
        if unit.name in (result.get("slices") or {}):
            base = (result.get("baselines") or {}).get(unit.name) or {}
            block = result["slices"][unit.name]
            rows.append((STANDARD_GROUP, unit.label, block.get("impressions"), block, base.get("random"),
                         base.get("oracle")))
    for group in SLICE_GROUP_UNITS:
        entries = (result.get("slice_groups") or {}).get(group.name) or {}
        for value in _in_order(group, entries):
            entry = entries[value]
            rows.append((group.label, value, entry["impressions"], entry["model"], entry["random"],
                         entry.get("oracle")))
    table = [(group, value, impressions, impressions - (m or {}).get("skipped", 0), get(m), get(r), get(o),
              share_of_oracle(get(m), get(r), get(o))) for group, value, impressions, m, r, o in rows]
    return pd.DataFrame(table, columns=list(SLICE_TABLE_COLUMNS))


def selected_on(metrics: dict | None) -> str:
    """The split that chose the best epoch of the run an evaluation belongs to: "validation", or "dev" (runs
    from before the validation split selected on dev, and ``select_on="dev"`` does)."""
    return (metrics or {}).get("selected_on") or "dev"


def _in_order(group: SliceGroup, entries: dict) -> list[str]:
    """A group's values in display order: the declared one, else most impressions first (then by name)."""
    if group.order:
        return [v for v in group.order if v in entries] + sorted(v for v in entries if v not in group.order)
    return sorted(entries, key=lambda v: (-entries[v]["impressions"], v))
