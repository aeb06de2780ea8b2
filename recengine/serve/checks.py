"""Checks for serving input (ids, counts, article fields, times): each refuses bad input with an InputError naming
it, before any model or store is touched, so callers can validate first."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Sequence

import numpy as np

from recengine.data.mind import MindDataset
from recengine.errors import InputError

MAX_K = 1000
MAX_CANDIDATES = 10_000
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 10_000
MAX_LABEL_CHARS = 100  # category, subcategory, ids
MAX_ENTITIES = 100
MAX_INTEREST_CHARS = 2_000
MAX_SAMPLE_USERS = 100_000


def whole(value, what: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{what} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return int(value)


def token(value, what: str) -> str:
    """An id: a non-empty string without whitespace, at most MAX_LABEL_CHARS long."""
    if not isinstance(value, str) or not value or value != "".join(value.split()):
        raise InputError(f"bad {what} {value!r}: expected a non-empty string without spaces")
    if len(value) > MAX_LABEL_CHARS:
        raise InputError(f"{what} is {len(value):,} characters long; the limit is {MAX_LABEL_CHARS}")
    return value


def text(value, what: str, limit: int, *, required: bool = False) -> str:
    """Text with its whitespace runs (tabs and line breaks included) collapsed to single spaces."""
    if not isinstance(value, str):
        raise InputError(f"the {what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise InputError(f"the {what} is {len(value):,} characters long; the limit is {limit:,}")
    text = " ".join(value.split())
    if required and not text:
        raise InputError(f"the {what} is empty")
    return text


def entity_ids(entities) -> list[str]:
    """A list of entity ids, each once, in the given order."""
    if isinstance(entities, (str, bytes)) or not isinstance(entities, Sequence):
        raise InputError(f"entities must be a list of WikidataIds, got {type(entities).__name__}")
    if len(entities) > MAX_ENTITIES:
        raise InputError(f"{len(entities)} entities given; the limit is {MAX_ENTITIES}")
    return list(dict.fromkeys(token(e, "entity id") for e in entities))


def check_article(
    *,
    title,
    abstract="",
    category="",
    subcategory="",
    entities=(),
    article_id=None,
) -> dict:
    """The validated fields of an article to add (whitespace collapsed); InputError naming the first problem.

    Needs no model or store, so callers can refuse bad input before loading anything.
    """
    return {
        "article_id": None if article_id is None else token(article_id, "article id"),
        "title": text(title, "title", MAX_TITLE_CHARS, required=True),
        "abstract": text(abstract, "abstract", MAX_ABSTRACT_CHARS),
        "category": text(category, "category", MAX_LABEL_CHARS),
        "subcategory": text(subcategory, "subcategory", MAX_LABEL_CHARS),
        "entities": entity_ids(entities),
    }


def check_request(user_id, k, candidates) -> tuple[str, int, int]:
    """A recommendation request's user id, ``k`` (1..MAX_K) and ``candidates`` (1..MAX_CANDIDATES), checked."""
    return (
        token(user_id, "user id"),
        whole(k, "k", 1, MAX_K),
        whole(candidates, "candidates", 1, MAX_CANDIDATES),
    )


def to_seconds(value) -> int:
    """Unix seconds of an int/float (seconds), a datetime (naive = UTC) or a numpy datetime64."""
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[s]").astype(np.int64))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise InputError(f"a time must be unix seconds or a datetime, got {value!r}")


def latest_impression(dataset: MindDataset) -> int:
    """Unix seconds of the dataset's latest impression: the serving clock's default."""
    times = [split.behaviors.times.max() for split in dataset.splits.values() if len(split.behaviors)]
    if not times:
        raise InputError("the dataset has no impressions to take the time from; pass now=")
    return to_seconds(max(times))


def history_ids(history: Sequence[str]) -> list[str]:
    """A history given by the caller: a list of article ids, oldest first."""
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise InputError(f"a history must be a list of article ids, got {type(history).__name__}")
    return [token(a, "article id") for a in history]
