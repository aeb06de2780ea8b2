"""Impressions in catalogue coordinates: the arrays training, evaluation and serving read.

MIND behaviours name articles by id; here every history item and candidate is a
catalogue row, so batches are built by array indexing alone. References to
articles the catalogue lacks (common in MIND subsets) are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recengine.data.mind import Behaviors, gather_ranges
from recengine.model.catalog import UNKNOWN_TIME, Catalog, IdMap


@dataclass
class Interactions:
    impression_ids: np.ndarray  # (n,) int64
    user_ids: np.ndarray  # (n,) object
    user_rows: np.ndarray  # (n,) int64 row in the user table, -1 when unseen in training
    times: np.ndarray  # (n,) int64 unix seconds of the impression
    history_ptr: np.ndarray  # (n+1,) int64
    history: np.ndarray  # (H,) int64 catalogue rows, oldest first
    candidate_ptr: np.ndarray  # (n+1,) int64
    candidates: np.ndarray  # (C,) int64 catalogue rows
    labels: np.ndarray  # (C,) int8
    dropped_history: int = 0
    dropped_candidates: int = 0
    history_times: np.ndarray | None = None  # (H,) int64 click time of each history item, UNKNOWN_TIME if unknown

    def __len__(self) -> int:
        return len(self.impression_ids)

    @property
    def candidate_rows(self) -> np.ndarray:
        """(C,) impression index of every candidate."""
        return np.repeat(np.arange(len(self)), np.diff(self.candidate_ptr))

    def select(self, rows: np.ndarray) -> "Interactions":
        rows = np.asarray(rows, dtype=np.int64)
        h_ptr, h_idx = gather_ranges(self.history_ptr, rows)
        c_ptr, c_idx = gather_ranges(self.candidate_ptr, rows)
        return Interactions(
            impression_ids=self.impression_ids[rows],
            user_ids=self.user_ids[rows],
            user_rows=self.user_rows[rows],
            times=self.times[rows],
            history_ptr=h_ptr,
            history=self.history[h_idx],
            candidate_ptr=c_ptr,
            candidates=self.candidates[c_idx],
            labels=self.labels[c_idx],
            history_times=None if self.history_times is None else self.history_times[h_idx],
        )


def carve_validation(times: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows), each ascending: the latest ``fraction`` of impressions by time (at least one)
    are validation. Ties in time keep file order (a stable sort), so the carve is deterministic."""
    order = np.argsort(np.asarray(times), kind="stable")
    n_valid = min(len(order) - 1, max(1, round(len(order) * fraction)))
    return np.sort(order[: len(order) - n_valid]), np.sort(order[len(order) - n_valid :])


def _filter_csr(ptr: np.ndarray, values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    counts = np.bincount(rows[keep], minlength=len(ptr) - 1)
    new_ptr = np.zeros(len(ptr), dtype=np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    return new_ptr, values[keep]


def build_interactions(behaviors: Behaviors, catalog: Catalog, users: IdMap) -> Interactions:
    """Map a split's behaviours onto catalogue rows and user-table rows."""
    article_rows = catalog.articles.rows(behaviors.articles)
    history = article_rows[behaviors.history]
    candidates = article_rows[behaviors.candidates]
    h_keep = history >= 0
    c_keep = candidates >= 0
    history_ptr, history = _filter_csr(behaviors.history_ptr, history, h_keep)
    candidate_ptr, candidates = _filter_csr(behaviors.candidate_ptr, candidates, c_keep)
    user_ids = behaviors.impression_user_ids
    return Interactions(
        impression_ids=behaviors.impression_ids,
        user_ids=user_ids,
        user_rows=users.rows(user_ids),
        times=behaviors.times.astype("datetime64[s]").astype(np.int64),
        history_ptr=history_ptr,
        history=history,
        candidate_ptr=candidate_ptr,
        candidates=candidates,
        labels=behaviors.labels[c_keep],
        dropped_history=int((~h_keep).sum()),
        dropped_candidates=int((~c_keep).sum()),
    )


def attach_history_times(interactions: Interactions, clicks: pd.DataFrame) -> None:
    """Fill ``history_times`` from a click log (columns user_id, row, time in unix seconds).

    MIND histories carry no times; a history item gets the time of the user's earlier click on
    it when some impression recorded one, else UNKNOWN_TIME (the pre-period history).
    """
    n_items = len(interactions.history)
    item_rows = np.repeat(np.arange(len(interactions)), np.diff(interactions.history_ptr))
    frame = pd.DataFrame(
        {"user_id": interactions.user_ids[item_rows], "row": interactions.history, "item": np.arange(n_items)}
    )
    first = clicks.groupby(["user_id", "row"], sort=False)["time"].min().reset_index()
    merged = frame.merge(first, on=["user_id", "row"], how="left")
    times = np.full(n_items, UNKNOWN_TIME, dtype=np.int64)
    found = merged["time"].notna().to_numpy()
    times[merged["item"].to_numpy()[found]] = merged["time"].to_numpy()[found].astype(np.int64)
    before = times < interactions.times[item_rows]
    interactions.history_times = np.where(before, times, UNKNOWN_TIME)


def click_log(interactions: list[Interactions]) -> pd.DataFrame:
    """Every labeled click as (user_id, row, time) across the given splits."""
    parts = []
    for inter in interactions:
        clicked = inter.labels == 1
        rows = inter.candidate_rows[clicked]
        parts.append(
            pd.DataFrame({"user_id": inter.user_ids[rows], "row": inter.candidates[clicked], "time": inter.times[rows]})
        )
    return pd.concat(parts, ignore_index=True)


def pad_last(ptr: np.ndarray, values: np.ndarray, rows: np.ndarray, length: int, pad: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """The last ``length`` items of each selected CSR row, left-aligned: (B, length) values and mask."""
    ends = ptr[rows + 1]
    counts = np.minimum(ends - ptr[rows], length)
    index = (ends - counts)[:, None] + np.arange(length)[None, :]
    mask = np.arange(length)[None, :] < counts[:, None]
    safe = np.where(mask, index, 0)
    out = values[safe] if len(values) else np.zeros(mask.shape, dtype=values.dtype)
    return np.where(mask, out, pad), mask
