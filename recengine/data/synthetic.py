"""A synthetic news world written as a MIND dataset, together with its truth.

Users have sparse interests over subcategories and favourite entities; articles have
a topic, 1-3 entities, a publish time and a latent appeal. A click is drawn from a
logistic model of

- topic interest  (readable from the text, partly from the entities),
- entity affinity (readable from the knowledge graph),
- latent appeal   (visible only through clicks: only the ID view can learn it),
- freshness and time of day (visible only through time),

calibrated so about 4% of impression candidates are clicked. Train covers days 1-5,
dev day 6; some articles are published only on day 6 and some users appear only on
day 6. ``dev/truth.tsv`` holds every dev candidate's true click probability, so the
oracle's metrics are computable. Same preset and seed, same bytes.

World version 3 (the default) writes each topic through a large pool of related English words and phrases
(:data:`recengine.data.world_vocab.TOPIC_WORDS_V3`), holds a third of each pool back until day 6 (vocabulary
drift: ``DRIFT_SHARE`` of day-6 articles use only those words), has day-6 articles mention new entities
whose vectors sit near their topic's old ones, and has a share of all articles (``WorldSize.general_share``: 0.4,
tiny 0) name only entities of no topic, so that the text carries the topic the graph cannot. Version 2 (fixed topic words, no drift) stays byte-identical.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recengine import atomic
from recengine.data import world_vocab as vocab
from recengine.data.mind import (
    ENTITY_DIM,
    META_FILE,
    NEWS_COLUMNS,
    TRUTH_FILE,
    Behaviors,
    gather_ranges,
    EntityVectors,
    MindSplit,
    News,
    write_split,
)
from recengine.errors import InputError

GENERATOR_VERSION = 2  # seeds v2's random stream; kept so that v2 worlds stay byte-identical
WORLD_VERSIONS = (2, 3)
DEFAULT_WORLD_VERSION = 3
DRIFT_SHARE = 0.6  # v3: share of day-6 articles written only in their topic's drift words
LATE_MENTION_SHARE = 0.5  # v3: share of a day-6 article's mentions replaced by entities new on day 6
GENERAL_ENTITIES = 40  # v3: entities every topic names (countries, big institutions), as MIND's "United States"
DAY = 86_400
START = np.datetime64("2019-11-09T00:00:00", "s")  # first train day (day 1); dev is day 6
TRAIN_DAYS = (1, 2, 3, 4, 5)
DEV_DAY = 6
FIRST_PUBLISH_DAY = -1  # days -1 and 0 feed the users' pre-period histories
CANDIDATE_WINDOW = 36 * 3600  # an impression offers articles published in the last 36 hours
# Readers are active mornings and evenings (per hour of day, normalised below).
DIURNAL = np.array([1, 1, 1, 1, 1, 2, 4, 7, 8, 7, 5, 5, 6, 5, 4, 4, 5, 6, 7, 8, 8, 7, 4, 2], dtype=float)


@dataclass(frozen=True)
class WorldSize:
    articles: int
    users: int
    train_impressions: int
    dev_impressions: int
    # Inclusive range per impression. MIND averages ~37; with one click required per impression the
    # click rate cannot fall below 1 / candidates, so short impressions cannot reach MIND's 4%.
    candidates: tuple[int, int]
    history: tuple[int, int]  # pre-period history length of a returning user
    new_user_share: float = 0.15  # users who appear only on day 6 (cold start)
    cold_history: tuple[int, int] = (0, 6)
    # v3: share of articles that mention only general entities: their topic is in their words alone. tiny keeps 0,
    # so that the tests' few hashing epochs learn the topic from the entities too.
    general_share: float = 0.4


PRESETS: dict[str, WorldSize] = {
    "tiny": WorldSize(articles=600, users=160, train_impressions=900, dev_impressions=300,
                      candidates=(30, 50), history=(3, 15), general_share=0.0),
    # ~10 clicks per warm article: enough to learn an article's appeal, the part only the ID view sees.
    "demo": WorldSize(articles=3_000, users=4_000, train_impressions=30_000, dev_impressions=8_000,
                      candidates=(20, 50), history=(10, 50)),
    "small": WorldSize(articles=51_000, users=50_000, train_impressions=157_000, dev_impressions=73_000,
                       candidates=(20, 55), history=(5, 50)),
    "large": WorldSize(articles=1_000_000, users=20_000, train_impressions=40_000, dev_impressions=10_000,
                       candidates=(20, 55), history=(5, 50)),
}


@dataclass(frozen=True)
class ClickModel:
    """Weights of the planted logistic click model (the bias is calibrated to ``click_rate``)."""

    topic: float = 4.0  # times interest in the article's subcategory, scaled to [0, 1] per user
    category: float = 0.8  # the article's category is one of the user's, its subcategory is not
    entity: float = 1.5  # the article mentions one of the user's favourite entities
    appeal: float = 0.5  # times the article's latent appeal ~ N(0, 1)
    freshness: float = 1.0  # minus this per day of age
    hour: float = 0.3  # times cos(2 pi (hour - category peak) / 24)
    click_rate: float = 0.04  # share of candidates clicked, after requiring one click per impression
    # Pre-period histories are drawn in proportion to exp(focus x logit): long-term reading reflects
    # interests more than a single day's impressions do.
    history_focus: float = 2.0


@dataclass
class World:
    """The planted truth: everything needed to compute any user's click probability for any article."""

    size: WorldSize
    model: ClickModel
    subcategories: list[str]
    subcategory_category: np.ndarray  # (S,) category index per subcategory
    categories: list[str]
    category_peak_hour: np.ndarray  # (K,)
    article_subcategory: np.ndarray  # (A,)
    article_entities: np.ndarray  # (A, 3) entity index or -1
    article_appeal: np.ndarray  # (A,)
    article_published: np.ndarray  # (A,) datetime64[s]
    entity_subcategory: np.ndarray  # (E,)
    entity_vectors: np.ndarray  # (E, 100)
    entity_labels: list[str]
    entity_types: list[str]
    user_interest: np.ndarray  # (U, S) weights, each row's max is 1
    user_categories: np.ndarray  # (U, K) bool
    user_favourites: np.ndarray  # sorted int64 keys user * E + entity
    user_activity: np.ndarray  # (U,)
    user_is_new: np.ndarray  # (U,) bool: appears only on day 6
    bias: float = 0.0
    extra: dict = field(default_factory=dict)

    def logits(self, users: np.ndarray, articles: np.ndarray, times: np.ndarray) -> np.ndarray:
        """True click logits for aligned (user, article, time) arrays, each of shape (n,)."""
        m = self.model
        sub = self.article_subcategory[articles]
        cat = self.subcategory_category[sub]
        interest = self.user_interest[users, sub]
        same_category = self.user_categories[users, cat] & (interest == 0)
        n_entities = len(self.entity_labels)
        ents = self.article_entities[articles]
        keys = users[:, None].astype(np.int64) * n_entities + ents
        slot = np.minimum(np.searchsorted(self.user_favourites, keys), len(self.user_favourites) - 1)
        favourite = ((self.user_favourites[slot] == keys) & (ents >= 0)).any(axis=1)
        age_days = (times - self.article_published[articles]).astype(np.float64) / DAY
        hours = (times.astype("datetime64[h]").astype(np.int64) % 24).astype(np.float64)
        hour_match = np.cos(2 * np.pi * (hours - self.category_peak_hour[cat]) / 24)
        return (
            self.bias
            + m.topic * interest
            + m.category * same_category
            + m.entity * favourite
            + m.appeal * self.article_appeal[articles]
            - m.freshness * np.maximum(age_days, 0.0)
            + m.hour * hour_match
        )


# --------------------------------------------------------------------------- building the world


def _zipf(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Popularity weights over n items, in a random order."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _syllable_name(index: int) -> str:
    """A pronounceable surname, distinct for every index (mixed radix over syllables, at least two)."""
    parts = []
    n = len(vocab.SYLLABLES)
    index += n  # guarantees two syllables
    while index:
        index, digit = divmod(index, n)
        parts.append(vocab.SYLLABLES[digit])
    return "".join(parts).capitalize()


def _entity_label(index: int, kind: str) -> str:
    if kind == "P":
        first = vocab.FIRST_NAMES[index % len(vocab.FIRST_NAMES)]
        return f"{first} {_syllable_name(index // len(vocab.FIRST_NAMES))}"
    if kind == "O":
        suffix = vocab.ORG_SUFFIXES[index % len(vocab.ORG_SUFFIXES)]
        return f"{_syllable_name(index // len(vocab.ORG_SUFFIXES))} {suffix}"
    prefix = vocab.PLACE_PREFIXES[index % len(vocab.PLACE_PREFIXES)]
    return f"{prefix} {_syllable_name(index // len(vocab.PLACE_PREFIXES))}"


def build_world(size: WorldSize, seed: int, model: ClickModel | None = None, world_version: int = 2) -> World:
    """Plant topics, entities, articles and users (no impressions yet).

    Version 3 then adds day-6 entities (:func:`_add_late_entities`); every draw before that is version 2's.
    """
    rng = np.random.default_rng(seed)
    model = model or ClickModel()
    categories = list(vocab.TAXONOMY)
    subcategories: list[str] = []
    subcategory_category: list[int] = []
    for k, (_, subs) in enumerate(vocab.TAXONOMY.values()):
        for name in subs:
            subcategories.append(name)
            subcategory_category.append(k)
    n_sub, n_cat = len(subcategories), len(categories)
    sub_cat = np.array(subcategory_category)
    peak = np.array([vocab.TAXONOMY[c][0] for c in categories], dtype=float)
    sub_popularity = _zipf(n_sub, 0.6, rng)

    # Articles.
    n_art = size.articles
    art_sub = rng.choice(n_sub, size=n_art, p=sub_popularity)
    span = (DEV_DAY + 1 - FIRST_PUBLISH_DAY) * DAY
    offsets = rng.integers(0, span, size=n_art) + (FIRST_PUBLISH_DAY - 1) * DAY
    art_pub = START + offsets.astype("timedelta64[s]")
    appeal = rng.normal(0.0, 1.0, size=n_art)

    # Entities: a pool per subcategory, vectors near the subcategory's direction.
    per_sub = np.bincount(art_sub, minlength=n_sub)
    pool_sizes = np.maximum(6, np.round(per_sub / 8).astype(int))
    ent_sub = np.repeat(np.arange(n_sub), pool_sizes)
    n_ent = len(ent_sub)
    pool_start = np.concatenate([[0], np.cumsum(pool_sizes)[:-1]])
    cat_dir = _unit(rng.normal(size=(n_cat, ENTITY_DIM)))
    sub_dir = _unit(0.6 * cat_dir[sub_cat] + 0.8 * _unit(rng.normal(size=(n_sub, ENTITY_DIM))))
    ent_vec = _unit(0.6 * sub_dir[ent_sub] + 0.8 * _unit(rng.normal(size=(n_ent, ENTITY_DIM))))
    ent_types = rng.choice(np.array(["P", "O", "G"]), size=n_ent, p=[0.5, 0.3, 0.2])
    ent_labels = [_entity_label(i, t) for i, t in enumerate(ent_types.tolist())]
    ent_popularity = [_zipf(int(s), 0.8, rng) for s in pool_sizes]

    art_ents = np.full((n_art, 3), -1, dtype=np.int64)
    n_mentions = rng.choice([1, 2, 3], size=n_art, p=[0.45, 0.35, 0.20])
    for s in range(n_sub):
        rows = np.flatnonzero(art_sub == s)
        if len(rows):
            picks = rng.choice(pool_sizes[s], size=(len(rows), 3), p=ent_popularity[s]) + pool_start[s]
            art_ents[rows] = picks
    # Now and then an article also names an entity of a sibling subcategory.
    crossover = np.flatnonzero(rng.random(n_art) < 0.15)
    for row in crossover:
        siblings = np.flatnonzero(sub_cat == sub_cat[art_sub[row]])
        other = rng.choice(siblings)
        art_ents[row, 2] = pool_start[other] + rng.choice(pool_sizes[other], p=ent_popularity[other])
    art_ents[np.arange(3)[None, :] >= n_mentions[:, None]] = -1
    art_ents = _dedupe_rows(art_ents)

    # Users: sparse interests, favourite entities inside those interests, an activity level.
    n_users = size.users
    n_interests = 1 + np.minimum(rng.poisson(1.2, size=n_users), 4)
    topics = _weighted_sample(np.log(sub_popularity), n_interests, rng)  # (U, 5), -1 padded
    has_topic = topics >= 0
    weights = rng.gamma(1.5, size=topics.shape) * has_topic  # Dirichlet(1.5) up to scale
    weights /= weights.max(axis=1, keepdims=True)
    interest = np.zeros((n_users, n_sub))
    user_rows = np.repeat(np.arange(n_users)[:, None], topics.shape[1], axis=1)
    interest[user_rows[has_topic], topics[has_topic]] = weights[has_topic]
    favourites: list[np.ndarray] = []
    for s in range(n_sub):
        fans = np.flatnonzero(interest[:, s] > 0)
        if not len(fans):
            continue
        counts = np.minimum(1 + rng.poisson(0.7, size=len(fans)), pool_sizes[s])
        picked = _weighted_sample(np.log(ent_popularity[s]), counts, rng) + pool_start[s]
        valid = np.arange(picked.shape[1])[None, :] < counts[:, None]
        favourites.append((fans[:, None] * n_ent + picked)[valid])
    user_categories = np.zeros((n_users, n_cat), dtype=bool)
    rows, cols = np.nonzero(interest)
    user_categories[rows, sub_cat[cols]] = True
    n_new = int(round(size.new_user_share * n_users))
    is_new = np.zeros(n_users, dtype=bool)
    is_new[rng.choice(n_users, size=n_new, replace=False)] = True
    world = World(
        size=size,
        model=model,
        subcategories=subcategories,
        subcategory_category=sub_cat,
        categories=categories,
        category_peak_hour=peak,
        article_subcategory=art_sub,
        article_entities=art_ents,
        article_appeal=appeal,
        article_published=art_pub,
        entity_subcategory=ent_sub,
        entity_vectors=ent_vec.astype(np.float32),
        entity_labels=ent_labels,
        entity_types=ent_types.tolist(),
        user_interest=interest,
        user_categories=user_categories,
        user_favourites=np.unique(np.concatenate(favourites)),
        user_activity=rng.lognormal(0.0, 0.6, size=n_users),
        user_is_new=is_new,
    )
    if world_version == 3:
        _add_late_entities(world, sub_dir, pool_sizes, rng)
        if size.general_share > 0:  # skipped, not drawn with a zero share: tiny's stream stays as it was
            _add_general_entities(world, size.general_share, rng)
    return world


def _add_general_entities(world: World, share: float, rng: np.random.Generator) -> None:
    """v3: a pool of :data:`GENERAL_ENTITIES` entities with no topic (vectors in no topic's direction), and
    ``share`` of the articles (the preset's ``general_share``) mention only them.

    Without it every article names 1-3 entities of its own subcategory, so the graph view reads the topic as
    well as the text does and a text view adds nothing (measured on demo: the model without text scored 0.7622
    dev AUC against 0.7603 with MiniLM). Real articles often name only broad entities; for those the topic is in
    the words alone. No reader favours a general entity.
    """
    n_old = len(world.entity_labels)
    types = rng.choice(np.array(["O", "G"]), size=GENERAL_ENTITIES).tolist()
    world.entity_subcategory = np.concatenate([world.entity_subcategory, np.full(GENERAL_ENTITIES, -1)])
    world.entity_vectors = np.concatenate(
        [world.entity_vectors, _unit(rng.normal(size=(GENERAL_ENTITIES, ENTITY_DIM))).astype(np.float32)])
    world.entity_labels += [_entity_label(n_old + i, t) for i, t in enumerate(types)]
    world.entity_types += types
    world.extra["general_entities"] = GENERAL_ENTITIES
    chosen = np.flatnonzero(rng.random(len(world.article_subcategory)) < share)
    ents = world.article_entities[chosen]
    general = n_old + rng.integers(0, GENERAL_ENTITIES, size=ents.shape)
    world.article_entities[chosen] = _dedupe_rows(np.where(ents >= 0, general, -1))
    # Favourite keys are user * n_entities + entity: re-key them for the grown entity count.
    users, old = np.divmod(world.user_favourites, n_old)
    world.user_favourites = np.sort(users * len(world.entity_labels) + old)


def _add_late_entities(world: World, sub_dir: np.ndarray, pool_sizes: np.ndarray, rng: np.random.Generator) -> None:
    """v3: grow each subcategory's entity pool with entities only day-6 articles mention.

    Their vectors are built like the old ones (near the subcategory's direction), so a graph view that reads
    entity vectors can place them; no user favours them, so they carry topic, never the entity part of a click.
    """
    n_old = len(world.entity_labels)
    late_sizes = np.maximum(3, np.round(pool_sizes / 2).astype(int))
    late_sub = np.repeat(np.arange(len(late_sizes)), late_sizes)
    late_start = n_old + np.concatenate([[0], np.cumsum(late_sizes)[:-1]])
    late_vec = _unit(0.6 * sub_dir[late_sub] + 0.8 * _unit(rng.normal(size=(len(late_sub), ENTITY_DIM))))
    late_types = rng.choice(np.array(["P", "O", "G"]), size=len(late_sub), p=[0.5, 0.3, 0.2]).tolist()
    world.entity_subcategory = np.concatenate([world.entity_subcategory, late_sub])
    world.entity_vectors = np.concatenate([world.entity_vectors, late_vec.astype(np.float32)])
    world.entity_labels += [_entity_label(n_old + i, t) for i, t in enumerate(late_types)]
    world.entity_types += late_types
    world.extra["late_entities"] = len(late_sub)

    day6 = np.flatnonzero(world.article_published >= START + np.timedelta64((DEV_DAY - 1) * DAY, "s"))
    ents = world.article_entities[day6]
    sub = world.article_subcategory[day6]
    swap = (ents >= 0) & (rng.random(ents.shape) < LATE_MENTION_SHARE)
    late = late_start[sub][:, None] + (rng.random(ents.shape) * late_sizes[sub][:, None]).astype(np.int64)
    world.article_entities[day6] = _dedupe_rows(np.where(swap, late, ents))
    # Favourite keys are user * n_entities + entity: re-key them for the grown entity count.
    users, old = np.divmod(world.user_favourites, n_old)
    world.user_favourites = np.sort(users * len(world.entity_labels) + old)


def _weighted_sample(log_weights: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, ``counts[row]`` distinct items drawn without replacement with the given weights.

    Gumbel top-k, vectorised over rows: returns (rows, max(counts)) item indices, -1 past each row's count.
    """
    width = int(counts.max())
    keys = log_weights[None, :] + rng.gumbel(size=(len(counts), len(log_weights)))
    top = np.argsort(-keys, axis=1)[:, :width]
    return np.where(np.arange(width)[None, :] < counts[:, None], top, -1)


def _dedupe_rows(ents: np.ndarray) -> np.ndarray:
    """Drop repeated entities within a row, keeping order, padding with -1 at the end."""
    out = np.full_like(ents, -1)
    for j in range(ents.shape[1]):
        col = ents[:, j]
        repeated = np.zeros(len(col), dtype=bool)
        for i in range(j):
            repeated |= ents[:, i] == col
        col = np.where(repeated, -1, col)
        out[:, j] = col
    # Compact to the left so -1 only trails.
    order = np.argsort(out < 0, axis=1, kind="stable")
    return np.take_along_axis(out, order, axis=1)


# --------------------------------------------------------------------------- impressions


def _impression_times(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hours = rng.choice(24, size=len(days), p=DIURNAL / DIURNAL.sum())
    seconds = (days - 1) * DAY + hours * 3600 + rng.integers(0, 3600, size=len(days))
    return START + seconds.astype("timedelta64[s]")


def _sample_candidates(
    world: World, times: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform candidates among articles published in the window before each impression.

    Returns CSR offsets (n+1,) and article indices; repeats within an impression are dropped.
    """
    by_time = np.argsort(world.article_published, kind="stable")
    published = world.article_published[by_time]
    lo = np.searchsorted(published, times - np.timedelta64(CANDIDATE_WINDOW, "s"), side="left")
    hi = np.searchsorted(published, times, side="right")
    low, high = world.size.candidates
    counts = np.minimum(rng.integers(low, high + 1, size=len(times)), hi - lo)
    rows = np.repeat(np.arange(len(times)), counts)
    picks = lo[rows] + np.floor(rng.random(len(rows)) * (hi - lo)[rows]).astype(np.int64)
    # Drop repeats: sort by (row, article), keep first of each run, restore a random order.
    order = np.lexsort((picks, rows))
    rows, picks = rows[order], picks[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (picks[1:] != picks[:-1])
    rows, picks = rows[keep], picks[keep]
    shuffle = np.lexsort((rng.random(len(rows)), rows))
    rows, picks = rows[shuffle], by_time[picks[shuffle]]
    ptr = np.zeros(len(times) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(times)), out=ptr[1:])
    return ptr, picks


def _conditional_rate(logits: np.ndarray, rows: np.ndarray, n_rows: int, bias: float) -> float:
    """Share of candidates clicked when each impression is redrawn until it has a click."""
    p = 1.0 / (1.0 + np.exp(-(logits + bias)))
    expected = np.bincount(rows, weights=p, minlength=n_rows)
    none = np.exp(np.bincount(rows, weights=np.log1p(-np.minimum(p, 1 - 1e-12)), minlength=n_rows))
    return float((expected / np.maximum(1.0 - none, 1e-12)).sum() / len(logits))


def _calibrate_bias(
    world: World, logits: np.ndarray, rows: np.ndarray, n_rows: int, rng: np.random.Generator
) -> float:
    """Bisection for the bias that gives the target click rate (the rate rises with the bias).

    Uses at most 20,000 impressions: the rate is an average, and that many pin it to well under 0.1%.
    """
    if n_rows > 20_000:
        chosen = np.zeros(n_rows, dtype=bool)
        chosen[rng.choice(n_rows, size=20_000, replace=False)] = True
        mask = chosen[rows]
        logits, rows = logits[mask], np.cumsum(chosen)[rows[mask]] - 1
        n_rows = 20_000
    lo, hi = -20.0, 5.0
    if _conditional_rate(logits, rows, n_rows, lo) > world.model.click_rate:
        raise ValueError(
            f"click rate {world.model.click_rate} is unreachable with these impression sizes: "
            "every impression has a click, so the rate is at least 1 / candidates"
        )
    for _ in range(40):
        mid = (lo + hi) / 2
        if _conditional_rate(logits, rows, n_rows, mid) < world.model.click_rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _draw_labels(p: np.ndarray, rows: np.ndarray, n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli labels, redrawn per impression until it has a click (MIND impressions all have one).

    Conditioning on 'at least one click' keeps the order of the true probabilities, so the oracle
    ranking is unchanged. Returns labels and a mask of impressions that never got a click.
    """
    labels = (rng.random(len(p)) < p).astype(np.int8)
    for _ in range(200):
        clicked = np.bincount(rows, weights=labels, minlength=n_rows) > 0
        if clicked.all():
            break
        redo = ~clicked[rows]
        labels[redo] = (rng.random(int(redo.sum())) < p[redo]).astype(np.int8)
    clicked = np.bincount(rows, weights=labels, minlength=n_rows) > 0
    return labels, ~clicked


def _pre_histories(world: World, rng: np.random.Generator) -> list[list[int]]:
    """Each user's clicks before day 1: sampled in proportion to exp(true logit) from the pre-period articles."""
    size = world.size
    pre = np.flatnonzero(world.article_published < START)
    lengths = np.where(
        world.user_is_new,
        rng.integers(size.cold_history[0], size.cold_history[1] + 1, size=size.users),
        np.clip(
            np.round(size.history[0] + world.user_activity * (size.history[1] - size.history[0]) / 3),
            size.history[0],
            size.history[1],
        ).astype(np.int64),
    )
    draws = min(len(pre), 400)
    histories: list[list[int]] = []
    chunk = 2048
    when = START - np.timedelta64(6 * 3600, "s")
    for begin in range(0, size.users, chunk):
        users = np.arange(begin, min(begin + chunk, size.users))
        pool = pre[rng.integers(0, len(pre), size=(len(users), draws))]
        flat_users = np.repeat(users, draws)
        logits = world.logits(flat_users, pool.ravel(), np.full(len(flat_users), when)).reshape(pool.shape)
        # Gumbel top-k: sampling without replacement in proportion to exp(focus x logit).
        keys = world.model.history_focus * logits + rng.gumbel(size=logits.shape)
        order = np.argsort(-keys, axis=1)
        ranked = np.take_along_axis(pool, order, axis=1)
        for row, u in enumerate(users):
            picked = list(dict.fromkeys(ranked[row, : lengths[u] + 5].tolist()))[: lengths[u]]
            histories.append(picked)
    return histories


@dataclass
class _Impressions:
    users: np.ndarray
    times: np.ndarray
    ptr: np.ndarray
    articles: np.ndarray
    logits: np.ndarray  # without the bias


def _impressions(world: World, rng: np.random.Generator, dev: bool) -> _Impressions:
    size = world.size
    if dev:
        # Every day-6-only user shows up; the rest of the dev traffic follows activity.
        new_users = np.flatnonzero(world.user_is_new)
        rest = max(size.dev_impressions - len(new_users), 0)
        users = np.concatenate([new_users, rng.choice(size.users, size=rest, p=world.user_activity / world.user_activity.sum())])
        days = np.full(len(users), DEV_DAY)
    else:
        returning = np.flatnonzero(~world.user_is_new)
        weights = world.user_activity[returning] / world.user_activity[returning].sum()
        rest = max(size.train_impressions - len(returning), 0)
        users = np.concatenate([returning, rng.choice(returning, size=rest, p=weights)])
        days = rng.choice(np.array(TRAIN_DAYS), size=len(users))
    times = _impression_times(days, rng)
    order = np.argsort(times, kind="stable")
    users, times = users[order], times[order]
    ptr, articles = _sample_candidates(world, times, rng)
    rows = np.repeat(np.arange(len(users)), np.diff(ptr))
    logits = world.logits(users[rows], articles, times[rows])
    return _Impressions(users, times, ptr, articles, logits)


# --------------------------------------------------------------------------- text


def _article_text(world: World, rng: np.random.Generator) -> tuple[list[str], list[str], list[str], list[str]]:
    """Titles, abstracts and the two MIND entity columns (JSON) of every article."""
    words = [vocab.TAXONOMY[world.categories[world.subcategory_category[s]]][1][name]
             for s, name in enumerate(world.subcategories)]
    n = len(world.article_subcategory)
    title_t = rng.integers(0, len(vocab.TITLE_TEMPLATES), size=n)
    abstract_t = rng.integers(0, len(vocab.ABSTRACT_TEMPLATES), size=n)
    verbs = rng.integers(0, len(vocab.VERBS), size=n)
    adjectives = rng.integers(0, len(vocab.ADJECTIVES), size=n)
    picks = rng.random((n, 6))
    titles, abstracts, title_json, abstract_json = [], [], [], []
    for i in range(n):
        topic_words = words[world.article_subcategory[i]]
        chosen = list(dict.fromkeys(topic_words[int(x * len(topic_words))] for x in picks[i]))
        while len(chosen) < 4:
            chosen.append(topic_words[len(chosen)])
        ents = [e for e in world.article_entities[i].tolist() if e >= 0]
        lead = world.entity_labels[ents[0]]
        other = world.entity_labels[ents[-1]]
        title = vocab.TITLE_TEMPLATES[title_t[i]].format(
            E=lead, verb=vocab.VERBS[verbs[i]], adj=vocab.ADJECTIVES[adjectives[i]], w1=chosen[0], w2=chosen[1]
        )
        title = title[0].upper() + title[1:]
        abstract = vocab.ABSTRACT_TEMPLATES[abstract_t[i]].format(
            E=other, adj=vocab.ADJECTIVES[adjectives[i]], w1=chosen[1], w2=chosen[2], w3=chosen[3], w4=chosen[0]
        )
        titles.append(title)
        abstracts.append(abstract)
        title_json.append(_entity_json(world, [ents[0]], title))
        abstract_json.append(_entity_json(world, [ents[-1]] + ents[1:-1], abstract))
    return titles, abstracts, title_json, abstract_json


def _article_text_v3(world: World, rng: np.random.Generator) -> tuple[list[str], list[str], list[str], list[str]]:
    """v3 titles, abstracts and entity columns: four words from the topic's pool, in generic phrasings.

    Articles published before day 6 draw from the train-era words; a ``DRIFT_SHARE`` of day-6 articles draw
    only from the drift words (marked in ``world.extra["drift"]``), the rest from the train-era words.
    """
    n = len(world.article_subcategory)
    day6 = world.article_published >= START + np.timedelta64((DEV_DAY - 1) * DAY, "s")
    drift = day6 & (rng.random(n) < DRIFT_SHARE)
    world.extra["drift"] = drift
    title_t = rng.integers(0, len(vocab.TITLE_TEMPLATES_V3), size=n)
    abstract_t = rng.integers(0, len(vocab.ABSTRACT_TEMPLATES_V3), size=n)
    verbs = rng.integers(0, len(vocab.VERBS), size=n)
    adjectives = rng.integers(0, len(vocab.ADJECTIVES), size=n)
    keys = rng.random((n, max(len(p) for pair in vocab.TOPIC_WORDS_V3.values() for p in pair)))
    titles, abstracts, title_json, abstract_json = [], [], [], []
    for i in range(n):
        pool = vocab.TOPIC_WORDS_V3[world.subcategories[world.article_subcategory[i]]][int(drift[i])]
        chosen = [pool[j] for j in np.argsort(keys[i, : len(pool)])[:4]]  # four distinct words
        ents = [e for e in world.article_entities[i].tolist() if e >= 0]
        lead, other = world.entity_labels[ents[0]], world.entity_labels[ents[-1]]
        adj = vocab.ADJECTIVES[adjectives[i]]
        title = vocab.TITLE_TEMPLATES_V3[title_t[i]].format(
            E=lead, verb=vocab.VERBS[verbs[i]], adj=adj, w1=chosen[0], w2=chosen[1]
        )
        abstract = vocab.ABSTRACT_TEMPLATES_V3[abstract_t[i]].format(
            E=other, adj=adj, w1=chosen[1], w2=chosen[2], w3=chosen[3], w4=chosen[0]
        )
        titles.append(title[0].upper() + title[1:])
        abstracts.append(abstract[0].upper() + abstract[1:])
        title_json.append(_entity_json(world, [ents[0]], titles[-1]))
        abstract_json.append(_entity_json(world, [ents[-1]] + ents[1:-1], abstracts[-1]))
    return titles, abstracts, title_json, abstract_json


def _entity_json(world: World, ents: list[int], text: str) -> str:
    items = []
    for e in ents:
        label = world.entity_labels[e]
        offset = text.find(label)
        items.append({
            "Label": label,
            "Type": world.entity_types[e],
            "WikidataId": f"Q{100_000 + e}",
            "Confidence": 1.0,
            "OccurrenceOffsets": [offset] if offset >= 0 else [],
            "SurfaceForms": [label] if offset >= 0 else [],
        })
    return json.dumps(items)


# --------------------------------------------------------------------------- writing


def _behaviors(
    world: World,
    imps: _Impressions,
    labels: np.ndarray,
    keep: np.ndarray,
    histories: list[list[int]],
    news_ids: np.ndarray,
    user_ids: np.ndarray,
) -> Behaviors:
    """MIND behaviours for the kept impressions; each history grows with the user's earlier clicks."""
    rows_kept = np.flatnonzero(keep)
    history_flat: list[int] = []
    history_ptr = [0]
    for row in rows_kept:
        user = imps.users[row]
        history_flat.extend(histories[user])
        history_ptr.append(len(history_flat))
        start, end = imps.ptr[row], imps.ptr[row + 1]
        clicked = imps.articles[start:end][labels[start:end] == 1]
        histories[user] = histories[user] + clicked.tolist()
    cand_ptr, cand_idx = gather_ranges(imps.ptr, rows_kept)
    return Behaviors(
        impression_ids=np.arange(1, len(rows_kept) + 1, dtype=np.int64),
        user_index=imps.users[rows_kept].astype(np.int32),
        users=user_ids,
        times=imps.times[rows_kept],
        history_ptr=np.asarray(history_ptr, dtype=np.int64),
        history=np.asarray(history_flat, dtype=np.int32),
        candidate_ptr=cand_ptr,
        candidates=imps.articles[cand_idx].astype(np.int32),
        labels=labels[cand_idx],
        articles=news_ids,
    ).compact()


def _news(world: World, rows: np.ndarray, text: tuple, news_ids: np.ndarray) -> News:
    titles, abstracts, title_json, abstract_json = text
    categories = [world.categories[world.subcategory_category[world.article_subcategory[r]]] for r in rows]
    frame = pd.DataFrame(
        {
            "news_id": news_ids[rows],
            "category": categories,
            "subcategory": [world.subcategories[world.article_subcategory[r]] for r in rows],
            "title": [titles[r] for r in rows],
            "abstract": [abstracts[r] for r in rows],
            "url": [f"https://example.org/recengine/{news_ids[r]}.html" for r in rows],
            "title_entities": [title_json[r] for r in rows],
            "abstract_entities": [abstract_json[r] for r in rows],
        },
        columns=list(NEWS_COLUMNS),
        dtype=object,
    )
    entities = [tuple(f"Q{100_000 + e}" for e in world.article_entities[r] if e >= 0) for r in rows]
    return News(frame, entities)


def _entity_vectors(world: World, rows: np.ndarray) -> EntityVectors:
    used = np.unique(world.article_entities[rows])
    used = used[used >= 0]
    return EntityVectors([f"Q{100_000 + e}" for e in used.tolist()], world.entity_vectors[used])


@dataclass
class Simulation:
    """A generated world and what it produced, before anything is written."""

    world: World
    news_ids: np.ndarray  # (A,) id of world article i
    user_ids: np.ndarray  # (U,) id of world user u
    splits: dict[str, MindSplit]
    dev_probabilities: np.ndarray  # (C_dev,) true click probability per dev candidate, in candidate order
    meta: dict


def check_world_version(world_version: object) -> int:
    """``world_version`` as an int, or InputError naming the allowed values."""
    if isinstance(world_version, bool) or world_version not in WORLD_VERSIONS:
        raise InputError(f"world version must be one of {', '.join(map(str, WORLD_VERSIONS))}, got {world_version!r}")
    return int(world_version)


def simulate(preset: str, seed: int, model: ClickModel | None = None,
             world_version: int = DEFAULT_WORLD_VERSION) -> Simulation:
    """Plant a world and draw its impressions; :func:`generate` writes the result as a MIND folder.

    ``world_version`` 3 (the default) writes topics through large word pools with day-6 vocabulary drift and
    day-6 entities; 2 is the earlier world, byte for byte.
    """
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    world_version = check_world_version(world_version)
    size = PRESETS[preset]
    # Version 2 seeds with GENERATOR_VERSION (= 2) as it always has; version 3 gets a stream of its own.
    rng = np.random.default_rng([seed, GENERATOR_VERSION if world_version == 2 else world_version])
    world = build_world(size, int(rng.integers(2**31)), model, world_version)

    train = _impressions(world, rng, dev=False)
    dev = _impressions(world, rng, dev=True)
    all_logits = np.concatenate([train.logits, dev.logits])
    all_rows = np.concatenate([
        np.repeat(np.arange(len(train.users)), np.diff(train.ptr)),
        len(train.users) + np.repeat(np.arange(len(dev.users)), np.diff(dev.ptr)),
    ])
    world.bias = _calibrate_bias(world, all_logits, all_rows, len(train.users) + len(dev.users), rng)

    news_numbers = rng.permutation(size.articles) + 10_000
    news_ids = np.array([f"N{n}" for n in news_numbers], dtype=object)
    user_numbers = rng.permutation(size.users) + 1_000
    user_ids = np.array([f"U{n}" for n in user_numbers], dtype=object)
    histories = _pre_histories(world, rng)
    text = _article_text(world, rng) if world_version == 2 else _article_text_v3(world, rng)

    behaviors = {}
    probabilities = {}
    dropped = 0
    for name, imps in (("train", train), ("dev", dev)):
        rows = np.repeat(np.arange(len(imps.users)), np.diff(imps.ptr))
        p = 1.0 / (1.0 + np.exp(-(imps.logits + world.bias)))
        labels, no_click = _draw_labels(p, rows, len(imps.users), rng)
        keep = ~no_click & (np.diff(imps.ptr) > 0)
        dropped += int((~keep).sum())
        behaviors[name] = _behaviors(world, imps, labels, keep, histories, news_ids, user_ids)
        probabilities[name] = p[np.isin(rows, np.flatnonzero(keep))]

    dev_start = START + np.timedelta64((DEV_DAY - 1) * DAY, "s")
    train_rows = np.flatnonzero(world.article_published < dev_start)
    dev_b = behaviors["dev"]
    dev_referenced = pd.Index(news_ids).get_indexer(dev_b.articles)
    new_rows = np.flatnonzero(world.article_published >= dev_start)
    dev_rows = np.union1d(dev_referenced, new_rows)
    splits = {
        "train": MindSplit("train", Path("train"), _news(world, train_rows, text, news_ids), behaviors["train"],
                           _entity_vectors(world, train_rows)),
        "dev": MindSplit("dev", Path("dev"), _news(world, dev_rows, text, news_ids), dev_b,
                         _entity_vectors(world, dev_rows)),
    }

    train_users = set(behaviors["train"].impression_user_ids.tolist())
    dev_users = set(dev_b.impression_user_ids.tolist())
    summaries = {name: split.summary() for name, split in splits.items()}
    meta = {
        "generator": "recengine.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "preset": preset,
        "seed": seed,
        # general_share is v3's: v2's meta.json stays as it was
        "size": {k: v for k, v in asdict(size).items() if world_version == 3 or k != "general_share"},
        "click_model": {**asdict(world.model), "bias": round(world.bias, 6)},
        "train_days": [str((START + np.timedelta64((d - 1) * DAY, "s")).astype("datetime64[D]")) for d in TRAIN_DAYS],
        "dev_day": str(dev_start.astype("datetime64[D]")),
        "counts": {
            name: {k: s[k] for k in ("articles", "users", "impressions", "clicks", "click_rate")}
            for name, s in summaries.items()
        },
        "dropped_impressions_without_click": dropped,
        # Published on the dev day and shown there (a small world may leave a few of them unshown).
        "new_articles": sorted(news_ids[np.intersect1d(new_rows, dev_referenced)].tolist()),
        "new_users": sorted(dev_users - train_users),
        "entities": len(world.entity_labels),
    }
    if world_version == 3:  # v2's meta.json stays as it was: no key means version 2
        meta["world_version"] = 3
        meta["drift_articles"] = sorted(news_ids[np.flatnonzero(world.extra["drift"])].tolist())
        meta["late_entities"] = world.extra["late_entities"]
        meta["general_entities"] = world.extra.get("general_entities", 0)
    return Simulation(world, news_ids, user_ids, splits, probabilities["dev"], meta)


def generate(preset: str, seed: int, out: str | Path, model: ClickModel | None = None,
             world_version: int = DEFAULT_WORLD_VERSION) -> dict:
    """Write a MIND dataset (``train/``, ``dev/``, ``dev/truth.tsv``, ``meta.json``) to ``out``; return the meta.

    The folder appears complete or not at all (written to a staging folder, then renamed).
    """
    sim = simulate(preset, seed, model, world_version)
    dev_b = sim.splits["dev"].behaviors
    truth_impressions = np.repeat(dev_b.impression_ids, dev_b.candidate_counts)
    truth_news = dev_b.articles[dev_b.candidates]
    out = Path(out)
    with atomic.replace_dir(out) as staging:
        for name, split in sim.splits.items():
            write_split(staging / name, split)
        truth_lines = "".join(
            f"{i}\t{n}\t{p:.12g}\n"
            for i, n, p in zip(truth_impressions.tolist(), truth_news.tolist(), sim.dev_probabilities.tolist())
        )
        atomic.write_text(staging / "dev" / TRUTH_FILE, truth_lines)
        atomic.write_json(staging / META_FILE, sim.meta)
    return sim.meta
