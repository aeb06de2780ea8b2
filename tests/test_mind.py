"""recengine.data.mind: reading real MIND rows, and write -> read round trips.

Expected values come from the files themselves, parsed here with plain Python, or from hand-built tables;
never from the reader under test.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recengine.data import mind
from recengine.data.mind import (
    NEWS_COLUMNS,
    Behaviors,
    EntityVectors,
    MindSplit,
    News,
    load_dataset,
    read_behaviors,
    read_entity_vectors,
    read_news,
    read_split,
    write_behaviors,
    write_dataset,
    write_entity_vectors,
    write_news,
    write_split,
)
from recengine.data.report import LoadReport

# --------------------------------------------------------------------------- plain-Python parsing of MIND files


def plain_rows(path: Path) -> list[list[str]]:
    """Tab-separated rows of a UTF-8 file, one per line."""
    return [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n") if line != ""]


def plain_time(text: str) -> datetime:
    return datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p")


def plain_entities(title_json: str, abstract_json: str) -> tuple[str, ...]:
    ids: list[str] = []
    for raw in (title_json, abstract_json):
        for item in json.loads(raw) if raw else []:
            if item["WikidataId"] not in ids:
                ids.append(item["WikidataId"])
    return tuple(ids)


def mind_time(moment: datetime) -> str:
    """MIND's time layout, written out by hand: no leading zeros on month, day and hour."""
    hour = moment.hour % 12 or 12
    half = "PM" if moment.hour >= 12 else "AM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} {half}"


# --------------------------------------------------------------------------- the real rows


def test_mind_sample_reads_with_the_published_counts(mind_sample: Path) -> None:
    news_rows = plain_rows(mind_sample / "news.tsv")
    behavior_rows = plain_rows(mind_sample / "behaviors.tsv")
    news_ids = {row[0] for row in news_rows}
    referenced = set()
    for row in behavior_rows:
        referenced.update(row[3].split())
        referenced.update(token.rsplit("-", 1)[0] for token in row[4].split())
    missing = len(referenced - news_ids)
    assert 0 < missing < len(referenced)  # the README: most ids do not resolve

    dataset = load_dataset(mind_sample)
    split = dataset.train
    summary = split.summary()
    assert list(dataset.splits) == ["train"]
    assert dataset.report.total_skipped == 0 and dataset.report.messages == []
    assert len(split.news) == 2000 == len(news_ids)
    assert len(split.behaviors) == 5000 == len(behavior_rows)
    assert summary["articles"] == 2000
    assert summary["impressions"] == 5000
    assert summary["empty_histories"] == 107 == sum(1 for row in behavior_rows if row[3] == "")
    assert summary["missing_article_ids"] == missing
    assert summary["referenced_article_ids"] == len(referenced)
    assert sorted(split.missing_article_ids().tolist()) == sorted(referenced - news_ids)
    assert split.entity_vectors is None  # the sample has no entity_embedding.vec
    assert summary["clicks"] == sum(token.endswith("-1") for row in behavior_rows for token in row[4].split())


def test_mind_sample_rows_match_a_plain_python_parse(mind_sample: Path) -> None:
    news = read_news(mind_sample / "news.tsv")
    expected_news = plain_rows(mind_sample / "news.tsv")
    assert news.frame[list(NEWS_COLUMNS)].values.tolist() == expected_news
    assert news.entities == [plain_entities(row[6], row[7]) for row in expected_news]
    assert sum(1 for row in expected_news if row[4] == "") == 99  # the README's empty abstracts
    assert news.position["N34700"] == 0

    behaviors = read_behaviors(mind_sample / "behaviors.tsv")
    rows = plain_rows(mind_sample / "behaviors.tsv")
    assert behaviors.impression_ids.tolist() == [int(row[0]) for row in rows]
    assert behaviors.impression_user_ids.tolist() == [row[1] for row in rows]
    assert behaviors.times.astype("datetime64[s]").tolist() == [plain_time(row[2]) for row in rows]
    for i, row in enumerate(rows):
        assert behaviors.history_ids(i) == row[3].split()
        tokens = row[4].split()
        assert behaviors.candidate_ids(i) == [t.rsplit("-", 1)[0] for t in tokens]
        assert behaviors.candidate_labels(i).tolist() == [int(t.rsplit("-", 1)[1]) for t in tokens]
    assert behaviors.labeled
    # The first row, spelled out.
    assert behaviors.impression_ids[0] == 58376 and behaviors.impression_user_ids[0] == "U81994"
    assert behaviors.times[0] == np.datetime64("2019-11-12T14:14:46")
    assert behaviors.candidate_ids(0)[:3] == ["N43266", "N58363", "N6975"]
    assert behaviors.candidate_labels(0)[:3].tolist() == [0, 0, 1]


def test_mind_sample_news_writes_back_byte_for_byte(mind_sample: Path, tmp_path: Path) -> None:
    write_news(tmp_path / "news.tsv", read_news(mind_sample / "news.tsv"))
    assert (tmp_path / "news.tsv").read_bytes() == (mind_sample / "news.tsv").read_bytes()
    write_behaviors(tmp_path / "behaviors.tsv", read_behaviors(mind_sample / "behaviors.tsv"))
    assert (tmp_path / "behaviors.tsv").read_bytes() == (mind_sample / "behaviors.tsv").read_bytes()


def test_mind_sample_split_round_trip(mind_sample: Path, tmp_path: Path) -> None:
    first = read_split(mind_sample)
    write_split(tmp_path / "copy", first)
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["behaviors.tsv", "news.tsv"]
    second = read_split(tmp_path / "copy")
    pd.testing.assert_frame_equal(first.news.frame, second.news.frame)
    assert first.news.entities == second.news.entities
    a, b = first.behaviors, second.behaviors
    assert a.impression_ids.tolist() == b.impression_ids.tolist()
    assert a.impression_user_ids.tolist() == b.impression_user_ids.tolist()
    assert np.array_equal(a.times, b.times)
    assert a.articles[a.history].tolist() == b.articles[b.history].tolist()
    assert a.articles[a.candidates].tolist() == b.articles[b.candidates].tolist()
    assert np.array_equal(a.history_ptr, b.history_ptr) and np.array_equal(a.candidate_ptr, b.candidate_ptr)
    assert np.array_equal(a.labels, b.labels)
    assert first.summary() == second.summary()


# --------------------------------------------------------------------------- a synthetic dataset (with vectors)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recengine.data.synthetic import generate

    out = tmp_path_factory.mktemp("tiny") / "data"
    generate("tiny", 0, out)
    return out


def test_dataset_with_entity_vectors_writes_back_byte_for_byte(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    write_dataset(tmp_path / "copy", dataset)
    for split in ("train", "dev"):
        for name in ("news.tsv", "behaviors.tsv", "entity_embedding.vec"):
            assert (tmp_path / "copy" / split / name).read_bytes() == (tiny / split / name).read_bytes(), (split, name)
    again = load_dataset(tmp_path / "copy")
    assert again.report.total_skipped == 0
    assert again.entity_vectors.ids == dataset.entity_vectors.ids
    assert np.array_equal(again.entity_vectors.matrix, dataset.entity_vectors.matrix)


def test_entity_vectors_match_a_plain_python_parse(tiny: Path) -> None:
    path = tiny / "train" / "entity_embedding.vec"
    rows = plain_rows(path)
    vectors = read_entity_vectors(path)
    assert vectors.ids == [row[0] for row in rows]
    assert vectors.matrix.dtype == np.float32 and vectors.matrix.shape == (len(rows), 100)
    expected = np.array([[float(v) for v in row[1:]] for row in rows])
    np.testing.assert_allclose(vectors.matrix, expected, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- random tables, written and read back

IDENT = st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True)
# Any Unicode text without tabs or line breaks (the two separators of the format); surrogates cannot be UTF-8.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), max_size=25)
TITLE = TEXT.filter(lambda t: any(c.isalnum() for c in t))
MOMENT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def entity_column(draw) -> tuple[str, list[str]]:
    """A MIND entity column (JSON text) and its WikidataIds in order."""
    items = draw(st.lists(st.tuples(st.from_regex(r"Q[0-9]{1,7}", fullmatch=True), TEXT), max_size=3))
    if not items:
        return draw(st.sampled_from(["[]", ""])), []
    objects = [
        {"Label": label, "Type": "P", "WikidataId": wid, "Confidence": 0.5, "OccurrenceOffsets": [], "SurfaceForms": []}
        for wid, label in items
    ]
    return json.dumps(objects, ensure_ascii=draw(st.booleans())), [wid for wid, _ in items]


@st.composite
def news_tables(draw) -> list[dict]:
    ids = draw(st.lists(IDENT.map(lambda s: "N" + s), min_size=1, max_size=8, unique=True))
    rows = []
    for news_id in ids:
        title_json, title_ids = draw(entity_column())
        abstract_json, abstract_ids = draw(entity_column())
        rows.append(
            {
                "news_id": news_id,
                "category": draw(IDENT),
                "subcategory": draw(IDENT),
                "title": draw(TITLE),
                "abstract": draw(st.one_of(st.just(""), TEXT)),
                "url": f"https://example.org/{news_id}.html",
                "title_entities": title_json,
                "abstract_entities": abstract_json,
                "entities": tuple(dict.fromkeys(title_ids + abstract_ids)),
            }
        )
    return rows


@st.composite
def behavior_tables(draw) -> tuple[list[dict], bool]:
    pool = draw(st.lists(IDENT.map(lambda s: "N" + s), min_size=1, max_size=10, unique=True))
    article = st.sampled_from(pool)
    impression_ids = draw(st.lists(st.integers(0, 10**15), min_size=1, max_size=8, unique=True))
    labeled = draw(st.booleans())
    rows = []
    for impression_id in impression_ids:
        candidates = draw(st.lists(article, min_size=1, max_size=6))
        rows.append(
            {
                "impression_id": impression_id,
                "user": draw(st.sampled_from(["U1", "U22", "U333"]) | IDENT.map(lambda s: "U" + s)),
                "time": draw(MOMENT),
                "history": draw(st.lists(article, max_size=6)),  # repeats happen in MIND too
                "candidates": candidates,
                "labels": draw(st.lists(st.integers(0, 1), min_size=len(candidates), max_size=len(candidates)))
                if labeled
                else [-1] * len(candidates),
            }
        )
    return rows, labeled


def build_news(rows: list[dict]) -> News:
    frame = pd.DataFrame([{c: r[c] for c in NEWS_COLUMNS} for r in rows], columns=list(NEWS_COLUMNS), dtype=object)
    return News(frame, [r["entities"] for r in rows])


def build_behaviors(rows: list[dict]) -> Behaviors:
    articles = sorted({a for r in rows for a in r["history"] + r["candidates"]})
    code = {a: i for i, a in enumerate(articles)}
    users = sorted({r["user"] for r in rows})
    history_ptr, candidate_ptr = [0], [0]
    for r in rows:
        history_ptr.append(history_ptr[-1] + len(r["history"]))
        candidate_ptr.append(candidate_ptr[-1] + len(r["candidates"]))
    return Behaviors(
        impression_ids=np.array([r["impression_id"] for r in rows], dtype=np.int64),
        user_index=np.array([users.index(r["user"]) for r in rows], dtype=np.int32),
        users=np.array(users, dtype=object),
        times=np.array([np.datetime64(r["time"], "s") for r in rows], dtype="datetime64[s]"),
        history_ptr=np.array(history_ptr, dtype=np.int64),
        history=np.array([code[a] for r in rows for a in r["history"]], dtype=np.int32),
        candidate_ptr=np.array(candidate_ptr, dtype=np.int64),
        candidates=np.array([code[a] for r in rows for a in r["candidates"]], dtype=np.int32),
        labels=np.array([y for r in rows for y in r["labels"]], dtype=np.int8),
        articles=np.array(articles, dtype=object),
    )


def behaviors_text(rows: list[dict], labeled: bool) -> str:
    """The MIND text of the rows, formatted here by hand."""
    lines = []
    for r in rows:
        items = [f"{a}-{y}" if labeled else a for a, y in zip(r["candidates"], r["labels"])]
        lines.append(f"{r['impression_id']}\t{r['user']}\t{mind_time(r['time'])}\t{' '.join(r['history'])}\t{' '.join(items)}\n")
    return "".join(lines)


ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@ROUND_TRIP
@given(rows=news_tables())
def test_random_news_round_trip(tmp_path: Path, rows: list[dict]) -> None:
    path = tmp_path / "news.tsv"
    write_news(path, build_news(rows))
    expected_text = "".join("\t".join(r[c] for c in NEWS_COLUMNS) + "\n" for r in rows)
    assert path.read_bytes() == expected_text.encode("utf-8")
    report = LoadReport(strict=True)
    news = read_news(path, report)
    assert report.total_skipped == 0
    assert news.ids.tolist() == [r["news_id"] for r in rows]
    for column in NEWS_COLUMNS:
        assert news.frame[column].tolist() == [r[column] for r in rows], column
    assert news.entities == [r["entities"] for r in rows]
    assert news.texts("title") == [r["title"] for r in rows]


@ROUND_TRIP
@given(table=behavior_tables())
def test_random_behaviors_round_trip(tmp_path: Path, table: tuple[list[dict], bool]) -> None:
    rows, labeled = table
    path = tmp_path / "behaviors.tsv"
    write_behaviors(path, build_behaviors(rows))
    assert path.read_text(encoding="utf-8") == behaviors_text(rows, labeled)
    report = LoadReport(strict=True)
    behaviors = read_behaviors(path, report)
    assert report.total_skipped == 0
    assert len(behaviors) == len(rows)
    assert behaviors.labeled == labeled
    assert behaviors.impression_ids.tolist() == [r["impression_id"] for r in rows]
    assert behaviors.impression_user_ids.tolist() == [r["user"] for r in rows]
    assert behaviors.times.astype("datetime64[s]").tolist() == [r["time"] for r in rows]
    for i, r in enumerate(rows):
        assert behaviors.history_ids(i) == r["history"]
        assert behaviors.candidate_ids(i) == r["candidates"]
        assert behaviors.candidate_labels(i).tolist() == r["labels"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=st.lists(st.from_regex(r"Q[0-9]{1,7}", fullmatch=True), min_size=1, max_size=6, unique=True),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-4, 1.0, 10.0]),
)
def test_random_entity_vectors_round_trip(tmp_path: Path, ids: list[str], seed: int, scale: float) -> None:
    values = np.random.default_rng(seed).uniform(-scale, scale, size=(len(ids), 100))
    path = tmp_path / "entity_embedding.vec"
    write_entity_vectors(path, EntityVectors(ids, values.astype(np.float32)))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in lines] == ids
    assert all(len(line.split("\t")) == 101 for line in lines)
    vectors = read_entity_vectors(path, LoadReport(strict=True))
    assert vectors.ids == ids
    # Six decimals are written: each value comes back within half a millionth (plus float32 rounding).
    np.testing.assert_allclose(vectors.matrix, values, rtol=1e-6, atol=6e-7)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(news_rows=news_tables(), table=behavior_tables())
def test_random_split_round_trip(tmp_path: Path, news_rows: list[dict], table: tuple[list[dict], bool]) -> None:
    rows, _ = table
    folder = tmp_path / "split"
    shutil.rmtree(folder, ignore_errors=True)
    ids = sorted({e for r in news_rows for e in r["entities"]}) or ["Q1"]
    vectors = EntityVectors(ids, np.arange(len(ids) * 100, dtype=np.float32).reshape(len(ids), 100) / 8)
    write_split(folder, MindSplit("train", folder, build_news(news_rows), build_behaviors(rows), vectors))
    dataset = load_dataset(folder, strict=True)
    split = dataset.train
    assert split.news.ids.tolist() == [r["news_id"] for r in news_rows]
    assert split.news.entities == [r["entities"] for r in news_rows]
    assert [split.behaviors.candidate_ids(i) for i in range(len(rows))] == [r["candidates"] for r in rows]
    assert [split.behaviors.history_ids(i) for i in range(len(rows))] == [r["history"] for r in rows]
    assert split.entity_vectors.ids == ids
    assert np.array_equal(split.entity_vectors.matrix, vectors.matrix)  # multiples of 1/8: exact in six decimals
    known = {r["news_id"] for r in news_rows}
    referenced = {a for r in rows for a in r["history"] + r["candidates"]}
    assert split.summary()["missing_article_ids"] == len(referenced - known)


# --------------------------------------------------------------------------- the details of the layout


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2019, 11, 12, 14, 14, 46), "11/12/2019 2:14:46 PM"),
        (datetime(2019, 11, 9, 0, 5, 7), "11/9/2019 12:05:07 AM"),  # midnight hour is 12 AM
        (datetime(2019, 1, 2, 12, 0, 0), "1/2/2019 12:00:00 PM"),  # noon is 12 PM
        (datetime(2019, 12, 31, 23, 59, 59), "12/31/2019 11:59:59 PM"),
    ],
)
def test_times_in_mind_layout(moment: datetime, text: str) -> None:
    assert mind.format_times(np.array([np.datetime64(moment, "s")])) == [text]
    assert mind.parse_times([text])[0] == np.datetime64(moment, "s")


def test_unlabeled_test_split_reads_with_minus_one_labels(tmp_path: Path) -> None:
    path = tmp_path / "behaviors.tsv"
    path.write_text("7\tU1\t11/15/2019 8:00:00 AM\tN1 N2\tN3 N4\n8\tU2\t11/15/2019 9:00:00 AM\t\tN4\n")
    behaviors = read_behaviors(path, LoadReport(strict=True))
    assert behaviors.labels.tolist() == [-1, -1, -1]
    assert not behaviors.labeled
    assert behaviors.candidate_ids(0) == ["N3", "N4"] and behaviors.history_ids(1) == []
    write_behaviors(tmp_path / "again.tsv", behaviors)
    assert (tmp_path / "again.tsv").read_bytes() == path.read_bytes()


def test_crlf_line_ends_and_a_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "news.tsv"
    row = ["N1", "news", "newsus", "A title", "An abstract", "https://example.org/N1", "[]", ""]
    path.write_bytes(b"\xef\xbb\xbf" + ("\t".join(row) + "\r\n").encode() * 1)
    news = read_news(path, LoadReport(strict=True))
    assert news.frame.iloc[0].tolist() == row


def test_same_article_in_train_and_dev_is_kept_once(tmp_path: Path) -> None:
    row = "N1\tnews\tnewsus\tA title\t\thttps://example.org/N1\t[]\t[]\n"
    for split, other in (("train", "N2"), ("dev", "N3")):
        (tmp_path / split).mkdir()
        (tmp_path / split / "news.tsv").write_text(row + row.replace("N1", other))
        (tmp_path / split / "behaviors.tsv").write_text(f"1\tU1\t11/12/2019 2:14:46 PM\tN1\t{other}-1 N1-0\n")
    dataset = load_dataset(tmp_path, strict=True)
    assert dataset.news.ids.tolist() == ["N1", "N2", "N3"]
    assert dataset.report.total_skipped == 0
