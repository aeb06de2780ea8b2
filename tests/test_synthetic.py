"""recengine.data.synthetic: the `tiny` world is deterministic, MIND-shaped, and carries the planted signal.

The generated files are parsed here with plain Python (not the reader under test) wherever a property is
checked; load_dataset is only asked to read them without complaint.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recengine import atomic
from recengine.data import synthetic
from recengine.data.mind import load_dataset
from recengine.data.world_vocab import TAXONOMY
from recengine.errors import InputError

TRAIN_DAYS = [date(2019, 11, d) for d in (9, 10, 11, 12, 13)]
DEV_DAY = date(2019, 11, 14)


def rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n") if line]


def impressions(path: Path) -> list[dict]:
    """behaviors.tsv, parsed by hand."""
    out = []
    for imp, user, when, history, items in rows(path):
        tokens = [t.rsplit("-", 1) for t in items.split()]
        out.append(
            {
                "id": int(imp),
                "user": user,
                "time": datetime.strptime(when, "%m/%d/%Y %I:%M:%S %p"),
                "history": history.split(),
                "candidates": [a for a, _ in tokens],
                "labels": [int(y) for _, y in tokens],
            }
        )
    return out


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic") / "tiny"
    meta = synthetic.generate("tiny", 0, out)
    return out, meta


@pytest.fixture(scope="module")
def parsed(world: tuple[Path, dict]) -> dict:
    root, _ = world
    return {
        "train": impressions(root / "train" / "behaviors.tsv"),
        "dev": impressions(root / "dev" / "behaviors.tsv"),
        "train_news": rows(root / "train" / "news.tsv"),
        "dev_news": rows(root / "dev" / "news.tsv"),
        "truth": rows(root / "dev" / "truth.tsv"),
        "meta": json.loads((root / "meta.json").read_text()),
    }


# --------------------------------------------------------------------------- determinism and layout


def test_same_seed_same_bytes_different_seed_different_bytes(tmp_path: Path, world: tuple[Path, dict]) -> None:
    root, _ = world
    synthetic.generate("tiny", 0, tmp_path / "again")
    synthetic.generate("tiny", 1, tmp_path / "other")
    first, again, other = file_hashes(root), file_hashes(tmp_path / "again"), file_hashes(tmp_path / "other")
    assert sorted(first) == [
        "dev/behaviors.tsv",
        "dev/entity_embedding.vec",
        "dev/news.tsv",
        "dev/truth.tsv",
        "meta.json",
        "train/behaviors.tsv",
        "train/entity_embedding.vec",
        "train/news.tsv",
    ]
    assert again == first
    assert sorted(other) == sorted(first)
    for name in first:
        assert other[name] != first[name], name


def test_meta_json_is_what_generate_returned(world: tuple[Path, dict], parsed: dict) -> None:
    _, meta = world
    assert parsed["meta"] == json.loads(json.dumps(meta))
    assert meta["preset"] == "tiny" and meta["seed"] == 0
    assert meta["train_days"] == [d.isoformat() for d in TRAIN_DAYS] and meta["dev_day"] == DEV_DAY.isoformat()
    for split in ("train", "dev"):
        assert meta["counts"][split]["impressions"] == len(parsed[split])
        assert meta["counts"][split]["clicks"] == sum(sum(i["labels"]) for i in parsed[split])


def test_files_load_without_skipped_rows(world: tuple[Path, dict], parsed: dict) -> None:
    root, _ = world
    dataset = load_dataset(root, strict=True)
    assert list(dataset.splits) == ["train", "dev"]
    assert dataset.report.total_skipped == 0 and dataset.report.messages == []
    assert dataset.truth is not None and len(dataset.truth) == len(parsed["truth"])
    assert dataset.meta == parsed["meta"]
    for split in ("train", "dev"):
        assert len(dataset.splits[split].behaviors) == len(parsed[split])
        assert len(dataset.splits[split].news) == len(parsed[f"{split}_news"])
        assert dataset.splits[split].entity_vectors is not None
    # Every article a split's behaviours name is in that split's news.tsv, and every entity has a vector.
    for split in ("train", "dev"):
        summary = dataset.splits[split].summary()
        assert summary["missing_article_ids"] == 0
        assert summary["articles_without_entities"] == 0
        news = dataset.splits[split].news
        vectors = set(dataset.splits[split].entity_vectors.ids)
        assert {e for ents in news.entities for e in ents} <= vectors


def test_the_world_is_sized_by_the_preset(parsed: dict) -> None:
    size = synthetic.PRESETS["tiny"]
    assert len(parsed["train"]) == size.train_impressions and len(parsed["dev"]) == size.dev_impressions
    low, high = size.candidates
    counts = [len(i["candidates"]) for split in ("train", "dev") for i in parsed[split]]
    assert min(counts) >= 1 and max(counts) <= high
    assert np.mean(counts) > low  # most impressions get their full draw
    for split in ("train", "dev"):
        for imp in parsed[split]:
            assert len(set(imp["candidates"])) == len(imp["candidates"])  # no article offered twice at once
    assert [i["id"] for i in parsed["train"]] == list(range(1, len(parsed["train"]) + 1))


# --------------------------------------------------------------------------- clicks and time


@pytest.mark.parametrize("split", ["train", "dev"])
def test_click_rate_and_one_click_per_impression(parsed: dict, split: str) -> None:
    labels = [y for imp in parsed[split] for y in imp["labels"]]
    assert set(labels) == {0, 1}
    assert 0.03 <= sum(labels) / len(labels) <= 0.05
    assert all(sum(imp["labels"]) >= 1 for imp in parsed[split])


def test_train_covers_five_days_and_dev_the_sixth(parsed: dict) -> None:
    train_days = {imp["time"].date() for imp in parsed["train"]}
    assert train_days == set(TRAIN_DAYS)
    assert {imp["time"].date() for imp in parsed["dev"]} == {DEV_DAY}
    times = [imp["time"] for imp in parsed["train"]]
    assert times == sorted(times)  # impressions are written in time order


def test_histories_grow_with_earlier_clicks(parsed: dict) -> None:
    """A returning user's history on a later impression ends with what they clicked before."""
    seen: dict[str, dict] = {}
    checked = 0
    for imp in parsed["train"] + parsed["dev"]:
        previous = seen.get(imp["user"])
        if previous is not None:
            clicked = [a for a, y in zip(previous["candidates"], previous["labels"]) if y == 1]
            assert imp["history"][: len(previous["history"])] == previous["history"]
            assert imp["history"][len(previous["history"]) :] == clicked
            checked += 1
        seen[imp["user"]] = imp
    assert checked > 500


# --------------------------------------------------------------------------- cold start


def test_new_articles_appear_only_on_the_dev_day(parsed: dict) -> None:
    new = set(parsed["meta"]["new_articles"])
    assert len(new) > 10
    train_news = {r[0] for r in parsed["train_news"]}
    train_referenced = {a for imp in parsed["train"] for a in imp["history"] + imp["candidates"]}
    dev_candidates = {a for imp in parsed["dev"] for a in imp["candidates"]}
    assert not new & train_news
    assert not new & train_referenced
    assert new <= dev_candidates
    assert new <= {r[0] for r in parsed["dev_news"]}


def test_new_users_appear_only_on_the_dev_day(parsed: dict) -> None:
    new = set(parsed["meta"]["new_users"])
    assert len(new) > 5
    train_users = {imp["user"] for imp in parsed["train"]}
    dev_users = {imp["user"] for imp in parsed["dev"]}
    assert not new & train_users
    assert new <= dev_users
    assert new == dev_users - train_users


# --------------------------------------------------------------------------- truth


def test_truth_has_one_row_per_dev_candidate_in_order(parsed: dict) -> None:
    expected = [(str(imp["id"]), a) for imp in parsed["dev"] for a in imp["candidates"]]
    assert [(r[0], r[1]) for r in parsed["truth"]] == expected
    probabilities = [float(r[2]) for r in parsed["truth"]]
    assert all(0.0 < p < 1.0 for p in probabilities)
    assert all(len(r) == 3 for r in parsed["truth"])


def _mean_auc(parsed: dict, scores: list[float]) -> float:
    aucs, start = [], 0
    for imp in parsed["dev"]:
        end = start + len(imp["candidates"])
        if 0 < sum(imp["labels"]) < len(imp["labels"]):
            aucs.append(roc_auc_score(imp["labels"], scores[start:end]))
        start = end
    assert start == len(scores) and len(aucs) > 0.9 * len(parsed["dev"])
    return float(np.mean(aucs))


def test_oracle_ranks_well_and_random_does_not(parsed: dict) -> None:
    truth = [float(r[2]) for r in parsed["truth"]]
    oracle = _mean_auc(parsed, truth)
    rng = np.random.default_rng(12345)
    random = _mean_auc(parsed, rng.random(len(truth)).tolist())
    assert oracle > 0.7
    assert abs(random - 0.5) < 0.05
    # Ranking by the truth backwards is as bad as the oracle is good.
    assert _mean_auc(parsed, [-p for p in truth]) == pytest.approx(1 - oracle)


# --------------------------------------------------------------------------- what the text and the graph carry


def test_entity_vectors_carry_the_topic(world: tuple[Path, dict], parsed: dict) -> None:
    root, _ = world
    subcategories: dict[str, set[str]] = defaultdict(set)
    for r in parsed["train_news"]:
        for column in (r[6], r[7]):
            for item in json.loads(column):
                subcategories[item["WikidataId"]].add(r[2])
    only = {e: next(iter(s)) for e, s in subcategories.items() if len(s) == 1}  # skip crossover mentions
    vectors = {r[0]: np.array([float(v) for v in r[1:]]) for r in rows(root / "train" / "entity_embedding.vec")}
    assert all(len(v) == 100 for v in vectors.values())
    ids = [e for e in only if e in vectors]
    assert len(ids) > 100
    matrix = np.stack([vectors[e] for e in ids])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    cosine = matrix @ matrix.T
    labels = np.array([only[e] for e in ids])
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(ids), dtype=bool)
    within = cosine[same & off_diagonal].mean()
    across = cosine[~same].mean()
    assert within > across + 0.15, (within, across)


def _word_pattern(words: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def test_v2_titles_name_their_subcategory(tmp_path: Path) -> None:
    """World v2 writes titles from each subcategory's fixed words (v3's pools: tests/test_synthetic_v3.py)."""
    synthetic.generate("tiny", 0, tmp_path / "v2", world_version=2)
    words = {sub: w for _, (_, subs) in TAXONOMY.items() for sub, w in subs.items()}
    category_of = {sub: cat for cat, (_, subs) in TAXONOMY.items() for sub in subs}
    patterns = {sub: _word_pattern(w) for sub, w in words.items()}
    news = rows(tmp_path / "v2" / "train" / "news.tsv") + rows(tmp_path / "v2" / "dev" / "news.tsv")
    seen = set()
    foreign, pairs = 0, 0
    for r in news:
        news_id, category, sub, title = r[:4]
        assert category == category_of[sub]
        assert patterns[sub].search(title), (news_id, sub, title)
        seen.add(sub)
        for other, pattern in patterns.items():
            if category_of[other] != category:
                pairs += 1
                foreign += bool(pattern.search(title))
    assert seen == set(words)  # every subcategory of the taxonomy has articles, each naming its topic
    assert foreign / pairs < 0.02  # words of other categories are rare in a title


# --------------------------------------------------------------------------- arguments and atomic output


def test_unknown_preset_and_negative_seed_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown preset 'huge'"):
        synthetic.generate("huge", 0, tmp_path / "x")
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        synthetic.generate("tiny", -1, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def _fail_on_meta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make generation fail at its very last write (meta.json), after train/ and dev/ are written."""

    def boom(path, obj):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(atomic, "write_json", boom)


def test_failed_generation_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_on_meta(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        synthetic.generate("tiny", 0, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no target, no staging folder left behind


def test_failed_generation_keeps_the_previous_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synthetic.generate("tiny", 1, tmp_path / "out")
    before = file_hashes(tmp_path / "out")
    _fail_on_meta(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        synthetic.generate("tiny", 0, tmp_path / "out")
    assert file_hashes(tmp_path / "out") == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    monkeypatch.undo()
    synthetic.generate("tiny", 0, tmp_path / "out")  # and a good run replaces it
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["seed"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_while_writing_a_split_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = synthetic.write_split
    calls = []

    def second_fails(folder, split):
        calls.append(split.name)
        if len(calls) == 2:
            raise RuntimeError("crash while writing dev")
        real(folder, split)

    monkeypatch.setattr(synthetic, "write_split", second_fails)
    with pytest.raises(RuntimeError):
        synthetic.generate("tiny", 0, tmp_path / "out")
    assert calls == ["train", "dev"]
    assert list(tmp_path.iterdir()) == []
