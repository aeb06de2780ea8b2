"""World v3 (the default): topics in large word pools, day-6 vocabulary drift, day-6 entities; v2 kept byte for byte.

Files are parsed with plain Python here; the real-model checks run benchmarks/world_check.py's functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from recengine.app import datasets
from recengine.data import synthetic, world_vocab
from recengine.errors import InputError
from benchmark_kit import benchmark_module

ROOT = Path(__file__).resolve().parent.parent
DEV_DAY = date(2019, 11, 14)
# SHA-256 of `generate("tiny", 0, out, world_version=2)`, computed with the code before world v3 existed.
TINY_V2_SEED0 = {
    "dev/behaviors.tsv": "3c6e8cca1211414d23014c127066db5b7675d1ef1848e8f0c8e36f260b707cd9",
    "dev/entity_embedding.vec": "0ede97dcb0713fa36566fd1f12314b30249834fb3215e095bd458d6b30817004",
    "dev/news.tsv": "466a0618f64096b5742b690ee5eb760bc672e3cb9bf0012585ddfcef222c2673",
    "dev/truth.tsv": "d64a320c23d8b9ab1fe5ce74798c5ada0463cea6bc5cafd66a096c90e3ee9986",
    "meta.json": "8fa529f50ed60ce885140b8dec625829fec3ff4d5b9a6c69b24309bad38eb42d",
    "train/behaviors.tsv": "c9356702e79672fd71cff259edf30adc7b8b9bd4f9488efe476fde0456b94a49",
    "train/entity_embedding.vec": "c2fde13e601b5805bacaa489f4e1d1bd18f749a9f0c4d672b0a661dbabddb352",
    "train/news.tsv": "d793f47862fcf55f816307803fa48b794f84a916274def6b2edd76ddb7d55dba",
}


def rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n") if line]


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def phrase_pattern(words: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"(?<![\w'-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w'-])", re.IGNORECASE)


@pytest.fixture(scope="module")
def v3(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny v3 world (the default), parsed: news rows per split, meta, entity ids per split."""
    root = tmp_path_factory.mktemp("v3") / "tiny"
    synthetic.generate("tiny", 0, root)
    news = {n: rows(root / n / "news.tsv") for n in ("train", "dev")}
    by_id = {r[0]: r for split in news.values() for r in split}
    meta = json.loads((root / "meta.json").read_text())
    train_ids = {r[0] for r in news["train"]}
    return {
        "root": root,
        "meta": meta,
        "pre": [r for r in by_id.values() if r[0] in train_ids],
        "day6": [r for r in by_id.values() if r[0] not in train_ids],
        "vectors": {n: {r[0]: np.array(r[1:], dtype=float) for r in rows(root / n / "entity_embedding.vec")}
                    for n in ("train", "dev")},
    }


def mentions(row: list[str]) -> set[str]:
    return {item["WikidataId"] for column in (row[6], row[7]) for item in json.loads(column)}


# --------------------------------------------------------------------------- versions


def test_v2_is_byte_identical_to_the_world_before_v3(tmp_path: Path) -> None:
    meta = synthetic.generate("tiny", 0, tmp_path / "v2", world_version=2)
    assert file_hashes(tmp_path / "v2") == TINY_V2_SEED0
    assert "world_version" not in meta  # v2's meta.json is unchanged: no key means version 2


def test_v3_is_the_default_and_recorded_in_meta(v3: dict) -> None:
    meta = v3["meta"]
    assert meta["world_version"] == 3 and meta["generator_version"] == 2
    on_disk = json.loads((v3["root"] / "meta.json").read_text())
    assert on_disk["world_version"] == 3 and on_disk["late_entities"] > 0


def test_v3_same_seed_same_bytes_and_differs_from_v2(tmp_path: Path, v3: dict) -> None:
    synthetic.generate("tiny", 0, tmp_path / "again")
    assert file_hashes(tmp_path / "again") == file_hashes(v3["root"])
    assert file_hashes(tmp_path / "again")["train/news.tsv"] != TINY_V2_SEED0["train/news.tsv"]


@pytest.mark.parametrize("bad", [1, 4, "3", True, None])
def test_a_bad_world_version_is_an_input_error_before_anything_is_written(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError, match="world version must be one of 2, 3"):
        synthetic.generate("tiny", 0, tmp_path / "x", world_version=bad)
    assert list(tmp_path.iterdir()) == []


def test_tiny_stays_fast() -> None:
    synthetic.simulate("tiny", 0)  # warm imports and caches
    started = time.perf_counter()
    synthetic.simulate("tiny", 1)
    # Measured 0.2-0.4 s on a shared 2-core machine; the bound leaves room for a busy one.
    assert time.perf_counter() - started < 2.0


# --------------------------------------------------------------------------- vocabulary and drift


def test_pools_are_large_split_into_train_and_drift_words_and_templates_carry_no_topic() -> None:
    subcategories = {s for _, subs in world_vocab.TAXONOMY.values() for s in subs}
    assert set(world_vocab.TOPIC_WORDS_V3) == subcategories
    everything = set()
    for sub, (train, drift) in world_vocab.TOPIC_WORDS_V3.items():
        assert len(train) + len(drift) >= 40, sub
        assert not set(train) & set(drift)
        assert 0.3 <= len(drift) / (len(train) + len(drift)) <= 0.4, sub
        # A drift phrase shares no word with a train-era phrase of its topic ("menu" goes with "tasting menu").
        words = [set().union(*map(world_vocab.content_words, part)) for part in (train, drift)]
        assert not words[0] & words[1], (sub, words[0] & words[1])
        everything |= set(train) | set(drift)
    templates = " ".join(world_vocab.TITLE_TEMPLATES_V3 + world_vocab.ABSTRACT_TEMPLATES_V3
                         + world_vocab.VERBS + world_vocab.ADJECTIVES)
    assert not phrase_pattern(tuple(everything)).search(re.sub(r"\{\w+\}", " ", templates))


def test_pre_day6_articles_use_only_train_era_words(v3: dict) -> None:
    for row in v3["pre"]:
        train, drift = world_vocab.TOPIC_WORDS_V3[row[2]]
        text = f"{row[3]} {row[4]}"
        assert phrase_pattern(train).search(row[3]), row[:4]
        assert not phrase_pattern(drift).search(text), row[:5]


def test_a_share_of_day6_articles_speak_only_drift_words(v3: dict) -> None:
    drift_ids = set(v3["meta"]["drift_articles"])
    for row in v3["day6"]:
        train, drift = world_vocab.TOPIC_WORDS_V3[row[2]]
        text = f"{row[3]} {row[4]}"
        if row[0] in drift_ids:
            assert phrase_pattern(drift).search(row[3]) and not phrase_pattern(train).search(text), row[:5]
        else:
            assert not phrase_pattern(drift).search(text), row[:5]
    share = len(drift_ids) / len(v3["day6"])
    assert abs(share - synthetic.DRIFT_SHARE) < 0.15, share  # ~75 day-6 articles: 3 binomial sd ~ 0.17


def test_same_topic_articles_often_share_no_content_word(v3: dict) -> None:
    pools = world_vocab.TOPIC_POOLS.values()
    topic_words = set().union(*(world_vocab.content_words(p) for pool in pools for p in pool))
    by_sub = defaultdict(list)
    for row in v3["pre"]:
        by_sub[row[2]].append(benchmark_module("world_check").article_words(f"{row[3]} {row[4]}") & topic_words)
    disjoint = [not (a & b) for words in by_sub.values() for i, a in enumerate(words) for b in words[i + 1:]]
    assert np.mean(disjoint) > 0.2  # measured 0.3 on tiny


# --------------------------------------------------------------------------- entities


def test_day6_brings_new_entities_only_dev_knows(v3: dict) -> None:
    before = set().union(*(mentions(r) for r in v3["pre"]))
    after = set().union(*(mentions(r) for r in v3["day6"]))
    new = after - before
    assert len(new) > 20
    assert not new & set(v3["vectors"]["train"])  # train's entity_embedding.vec never holds them
    assert new <= set(v3["vectors"]["dev"])
    with_new = sum(bool(mentions(r) & new) for r in v3["day6"])
    assert with_new / len(v3["day6"]) > 0.3


def test_new_entities_sit_near_their_subcategorys_old_entities(v3: dict) -> None:
    only: dict[str, set[str]] = defaultdict(set)
    for row in v3["pre"] + v3["day6"]:
        for e in mentions(row):
            only[e].add(row[2])
    before = set().union(*(mentions(r) for r in v3["pre"]))
    vectors = v3["vectors"]["dev"] | v3["vectors"]["train"]
    unit = {e: v / np.linalg.norm(v) for e, v in vectors.items() if len(only[e]) == 1}
    new = [e for e in unit if e not in before]
    old = [e for e in unit if e in before]
    same, other = [], []
    for e in new:
        sims = np.array([unit[e] @ unit[o] for o in old])
        mask = np.array([only[o] == only[e] for o in old])
        same.append(sims[mask].mean())
        other.append(sims[~mask].mean())
    assert np.mean(same) > np.mean(other) + 0.15, (np.mean(same), np.mean(other))


# --------------------------------------------------------------------------- the click model stays measurable


def test_each_click_model_part_has_its_oracle_without_it() -> None:
    table = benchmark_module("world_check").click_model_table(synthetic.simulate("tiny", 0))
    full, without = table["oracle_auc"], table["oracle_auc_without"]
    assert full > 0.75
    assert all(value < full for value in without.values()), table
    assert min(without, key=without.get) == "topic"  # the topic is the biggest part, as in v2


# --------------------------------------------------------------------------- real text models


@pytest.fixture(scope="module")
def sample() -> object:
    check = benchmark_module("world_check")
    return check.sample(check.articles(synthetic.simulate("tiny", 0)), 200, 0)


def test_hashing_sees_no_paraphrase(sample) -> None:
    figures = benchmark_module("world_check").embedder_figures("hashing", sample)
    assert abs(figures["pairs"]["gap"]) < 0.05, figures


@pytest.mark.slow
def test_minilm_reads_paraphrase_and_drift_where_hashing_cannot(sample, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check = benchmark_module("world_check")
    minilm, hashing = (check.embedder_figures(name, sample) for name in ("minilm", "hashing"))
    # benchmarks/world_check.py on demo (800 articles): gap 0.14 vs 0.001; nearest-neighbour hit rate 0.80 vs 0.11,
    # chance 0.04.
    assert minilm["pairs"]["gap"] > hashing["pairs"]["gap"] + 0.1, (minilm, hashing)
    assert minilm["nearest"]["hit_rate"] > max(5 * minilm["nearest"]["chance"], hashing["nearest"]["hit_rate"] + 0.2)


# --------------------------------------------------------------------------- faces


def test_app_generate_names_a_v2_world_apart(workspace, store) -> None:
    v2 = datasets.generate(workspace, store, "tiny", 0, world_version=2)
    v3_default = datasets.generate(workspace, store, "tiny", 0)
    assert (v2["dataset"], v3_default["dataset"]) == ("tiny-seed0-v2", "tiny-seed0")
    assert "world_version" not in json.loads((workspace.dataset("tiny-seed0-v2") / "meta.json").read_text())
    assert json.loads((workspace.dataset("tiny-seed0") / "meta.json").read_text())["world_version"] == 3
    with pytest.raises(InputError, match="world version must be one of 2, 3, got 5"):
        datasets.generate(workspace, store, "tiny", 1, world_version=5)
    assert not workspace.dataset("tiny-seed1").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "recengine", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_cli_world_version_flag(tmp_path: Path) -> None:
    result = run_cli("data", "generate", "--preset", "tiny", "--world-version", "2", "--out", str(tmp_path / "v2"),
                     "--no-register")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["world_version"] == 2
    assert file_hashes(tmp_path / "v2") == TINY_V2_SEED0
    bad = run_cli("data", "generate", "--preset", "tiny", "--world-version", "4", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--world-version" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
