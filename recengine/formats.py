"""How a number reads, one way per kind, everywhere a person sees it (pages, CLI tables, chart labels):

=========  =======================================  ============
kind       which columns                            shown as
=========  =======================================  ============
metric     AUC, MRR, nDCG, P@k, R@k and differences  ``0.773``
share      shares, rates, coverage, way to oracle    ``80.6%``
count      integers                                  ``12,345``
seconds    durations                                 ``12.3 s``
p          p-values                                  ``0.0012``
time       timestamps                                ``2026-12-01 19:04``
=========  =======================================  ============

:func:`column_kind` infers a column's kind from its name and dtype; a table that knows better passes its own.
:func:`column_label` turns ``snake_case`` into words (and metric keys into their official labels).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import pandas as pd

from recengine.eval.metrics import METRIC_LABELS

KINDS = ("metric", "share", "count", "seconds", "p", "time", "number", "text")
_METRIC = re.compile(r"(^|_)(auc|mrr|ndcg@?\d*|p@\d+|r@\d+|ece|diff|ci_low|ci_high|difference)"
                     r"(_|$)")
_SHARE = re.compile(r"(share|rate|coverage|way_to_oracle|fraction|percent)")
_SECONDS = re.compile(r"(seconds|_s$|duration|elapsed)")
_TIME = re.compile(r"(_at$|^created|^started|^finished|^updated|timestamp|^when$)")
LABELS = {**METRIC_LABELS, "run_id": "run", "share_of_oracle": "way to oracle", "p": "p-value",
          "p_value": "p-value", "n": "impressions", "ci_low": "95% CI low", "ci_high": "95% CI high",
          "random_auc": "random AUC", "oracle_auc": "oracle AUC", "best_epoch": "best epoch",
          "selected_on": "selected on"}


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def metric(value, digits: int = 3) -> str:
    return "—" if is_missing(value) else f"{value:.{digits}f}"


def share(value, digits: int = 1) -> str:
    return "—" if is_missing(value) else f"{value:.{digits}%}"


def count(value) -> str:
    return "—" if is_missing(value) else f"{int(value):,}"


def seconds(value) -> str:
    return "—" if is_missing(value) else f"{value:,.1f} s"


def p_value(value) -> str:
    if is_missing(value):
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def timestamp(value) -> str:
    if is_missing(value) or value == "":
        return "—"
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d %H:%M")


def number(value) -> str:
    return "—" if is_missing(value) else f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def text(value) -> str:
    return "—" if is_missing(value) or value == "" else str(value)


FORMATTERS: dict[str, Callable[[object], str]] = {
    "metric": metric, "share": share, "count": count, "seconds": seconds, "p": p_value, "time": timestamp,
    "number": number, "text": text,
}


def column_kind(name: str, dtype=None) -> str:
    """The kind of column ``name`` (see the module table); ``dtype`` separates counts from other numbers."""
    key = str(name).lower()
    numeric = dtype is not None and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if dtype is not None and pd.api.types.is_datetime64_any_dtype(dtype) or _TIME.search(key):
        return "time"
    if not numeric and dtype is not None:
        return "text"
    if key in ("p", "p_value") or key.endswith("_p"):
        return "p"
    if _SHARE.search(key):
        return "share"
    if _SECONDS.search(key):
        return "seconds"
    if key in METRIC_LABELS or _METRIC.search(key):
        return "metric"
    if dtype is not None and pd.api.types.is_integer_dtype(dtype):
        return "count"
    return "number"


def column_label(name: str) -> str:
    """``name`` in words: official metric labels, known names, otherwise snake_case with spaces."""
    key = str(name)
    if key in LABELS:
        return LABELS[key]
    for suffix, words in (("_auc", " AUC"), ("_share", " share")):
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " ") + words
    return key.replace("_", " ")


def formatters(frame: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> dict[str, Callable[[object], str]]:
    """One formatter per column of ``frame``: ``kinds`` where given, else :func:`column_kind`."""
    kinds = kinds or {}
    return {column: FORMATTERS[kinds.get(column) or column_kind(column, frame[column].dtype)]
            for column in frame.columns}


def formatted(frame: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``frame`` as strings, each column in its kind's format, with worded headers (for the CLI and exports
    meant for reading; the dashboard formats at display time and keeps the numbers sortable)."""
    out = pd.DataFrame({column_label(c): frame[c].map(f) for c, f in formatters(frame, kinds).items()})
    return out
