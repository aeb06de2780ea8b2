"""recengine.data.mind on bad input: every problem names the file and the line, and says what is wrong.

Default mode skips the bad row, counts it in ``dataset.report.skipped[kind]`` and loads the rest;
``strict=True`` raises :class:`InputError` naming the first bad line. Missing, empty and misplaced
files are errors in both modes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from recengine.data import mind
from recengine.data.mind import load_dataset, read_behaviors, read_entity_vectors, read_news
from recengine.data.report import LoadReport
from recengine.errors import InputError


def entities(*ids: str) -> str:
    return json.dumps(
        [{"Label": f"Label {q}", "Type": "P", "WikidataId": q, "Confidence": 1.0, "OccurrenceOffsets": [0], "SurfaceForms": []} for q in ids]
    )


NEWS = [
    ["N1", "news", "newsus", "Mayor opens the bridge", "The new bridge opened.", "https://example.org/N1", entities("Q1"), "[]"],
    ["N2", "sports", "golf", "Birdie on the last hole", "", "https://example.org/N2", "[]", entities("Q2")],
    ["N3", "news", "newsworld", "Envoys meet at the summit", "Talks went on.", "https://example.org/N3", "[]", "[]"],
    ["N4", "sports", "tennis", "A tiebreak decides it", "Five sets.", "https://example.org/N4", entities("Q3", "Q1"), "[]"],
]
BEHAVIORS = [
    ["1", "U1", "11/12/2019 2:14:46 PM", "N1 N2", "N3-1 N2-0"],
    ["2", "U2", "11/12/2019 3:14:46 AM", "", "N1-0 N3-1"],
    ["3", "U1", "11/13/2019 12:00:00 PM", "N3", "N1-1 N2-0 N9-0"],
    ["4", "U3", "11/13/2019 1:30:00 PM", "N4 N1", "N4-0 N2-1"],
]
VECTOR_IDS = ["Q1", "Q2", "Q3", "Q4"]


def vector_rows() -> list[list[str]]:
    return [[q] + [f"{(i + 1) * 0.01 + j * 0.001:.6f}" for j in range(100)] for i, q in enumerate(VECTOR_IDS)]


def tsv(rows: list[list[str]]) -> bytes:
    return "".join("\t".join(row) + "\n" for row in rows).encode("utf-8")


def write_folder(folder: Path, news=None, behaviors=None, vectors=None) -> Path:
    """A valid bare MIND split folder; pass replacement bytes (or rows) for any of the three files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content, default in (
        ("news.tsv", news, NEWS),
        ("behaviors.tsv", behaviors, BEHAVIORS),
        ("entity_embedding.vec", vectors, vector_rows()),
    ):
        if isinstance(content, list):
            content = tsv(content)
        (folder / name).write_bytes(content if content is not None else tsv(default))
    return folder


def rows_with(base: list[list[str]], line: int, column: int, value: str) -> list[list[str]]:
    rows = [list(r) for r in base]
    rows[line - 1][column] = value
    return rows


@dataclass
class Case:
    """One bad row: which file, which 1-based line, the skip kind, and words the message must contain."""

    id: str
    file: str
    line: int
    kind: str
    says: str
    build: Callable[[], dict]
    rows_left: tuple[int, int, int]  # articles, impressions, entity vectors after skipping


def _not_utf8_news() -> dict:
    data = bytearray(tsv(NEWS))
    lines = bytes(data).split(b"\n")
    lines[2] = lines[2].replace(b"summit", b"summ\xff\xfeit")
    return {"news": b"\n".join(lines)}


def _not_utf8_behaviors() -> dict:
    lines = tsv(BEHAVIORS).split(b"\n")
    lines[1] = lines[1].replace(b"U2", b"U\xe9")  # Latin-1, not UTF-8
    return {"behaviors": b"\n".join(lines)}


CASES = [
    Case("news-wrong-columns", "news.tsv", 2, "wrong_columns", "expected 8 tab-separated columns, found 7",
         lambda: {"news": [NEWS[0], NEWS[1][:7], *NEWS[2:]]}, (3, 4, 4)),
    Case("news-extra-column", "news.tsv", 4, "wrong_columns", "expected 8 tab-separated columns, found 9",
         lambda: {"news": [*NEWS[:3], NEWS[3] + ["extra"]]}, (3, 4, 4)),
    Case("behaviors-wrong-columns", "behaviors.tsv", 3, "wrong_columns", "expected 5 tab-separated columns, found 4",
         lambda: {"behaviors": [*BEHAVIORS[:2], BEHAVIORS[2][:4], BEHAVIORS[3]]}, (4, 3, 4)),
    Case("bad-label", "behaviors.tsv", 2, "bad_label", "bad label in 'N1-x'",
         lambda: {"behaviors": rows_with(BEHAVIORS, 2, 4, "N1-x N3-1")}, (4, 3, 4)),
    Case("missing-label", "behaviors.tsv", 4, "bad_label", "lack labels",
         lambda: {"behaviors": rows_with(BEHAVIORS, 4, 4, "N4-0 N2")}, (4, 3, 4)),
    Case("bad-time", "behaviors.tsv", 3, "bad_time", "bad time '13/45/2019 1:00:00 PM'",
         lambda: {"behaviors": rows_with(BEHAVIORS, 3, 2, "13/45/2019 1:00:00 PM")}, (4, 3, 4)),
    Case("bad-impression-id", "behaviors.tsv", 1, "bad_impression_id", "'x1' is not a whole number",
         lambda: {"behaviors": rows_with(BEHAVIORS, 1, 0, "x1")}, (4, 3, 4)),
    Case("no-candidates", "behaviors.tsv", 2, "no_candidates", "no candidate articles",
         lambda: {"behaviors": rows_with(BEHAVIORS, 2, 4, "")}, (4, 3, 4)),
    Case("news-not-utf8", "news.tsv", 3, "not_utf8", "not UTF-8 (0xff", _not_utf8_news, (3, 4, 4)),
    Case("behaviors-not-utf8", "behaviors.tsv", 2, "not_utf8", "not UTF-8 (0xe9", _not_utf8_behaviors, (4, 3, 4)),
    Case("duplicate-impression", "behaviors.tsv", 4, "duplicate_impression", "impression id 2 repeats (first at line 2)",
         lambda: {"behaviors": rows_with(BEHAVIORS, 4, 0, "2")}, (4, 3, 4)),
    Case("duplicate-article-different", "news.tsv", 5, "duplicate_id",
         "article N2 appears again with different content (first at line 2)",
         lambda: {"news": [*NEWS, rows_with(NEWS, 2, 3, "Another title")[1]]}, (4, 4, 4)),
    Case("entity-json-malformed", "news.tsv", 2, "bad_entities", "article N2: entity column is not valid JSON",
         lambda: {"news": rows_with(NEWS, 2, 7, '[{"WikidataId": "Q2"')}, (3, 4, 4)),
    Case("entity-json-not-a-list", "news.tsv", 1, "bad_entities", "article N1: entity column is not a JSON list",
         lambda: {"news": rows_with(NEWS, 1, 6, '{"WikidataId": "Q1"}')}, (3, 4, 4)),
    Case("entity-without-id", "news.tsv", 4, "bad_entities", "without a WikidataId",
         lambda: {"news": rows_with(NEWS, 4, 6, '[{"Label": "Nobody"}]')}, (3, 4, 4)),
    Case("empty-title", "news.tsv", 3, "empty_title", "article N3 has an empty title",
         lambda: {"news": rows_with(NEWS, 3, 3, "   ")}, (3, 4, 4)),
    Case("vector-wrong-width", "entity_embedding.vec", 2, "wrong_columns",
         "expected 101 tab-separated columns (an entity id and 100 values), found 51",
         lambda: {"vectors": [vector_rows()[0], vector_rows()[1][:51], *vector_rows()[2:]]}, (4, 4, 3)),
    Case("vector-nan", "entity_embedding.vec", 3, "not_finite", "entity Q3: vector contains NaN or Inf",
         lambda: {"vectors": rows_with(vector_rows(), 3, 17, "nan")}, (4, 4, 3)),
    Case("vector-inf", "entity_embedding.vec", 1, "not_finite", "entity Q1: vector contains NaN or Inf",
         lambda: {"vectors": rows_with(vector_rows(), 1, 100, "-inf")}, (4, 4, 3)),
    Case("vector-not-a-number", "entity_embedding.vec", 4, "bad_number", "entity Q4: a value is not a number",
         lambda: {"vectors": rows_with(vector_rows(), 4, 5, "0.1x")}, (4, 4, 3)),
    Case("vector-duplicate", "entity_embedding.vec", 4, "duplicate_entity", "entity Q2 appears twice",
         lambda: {"vectors": rows_with(vector_rows(), 4, 0, "Q2")}, (4, 4, 3)),
    Case("blank-line", "behaviors.tsv", 3, "blank_line", "blank line",
         lambda: {"behaviors": tsv(BEHAVIORS[:2]) + b"   \n" + tsv(BEHAVIORS[2:])}, (4, 4, 4)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_row_is_skipped_and_counted(tmp_path: Path, case: Case) -> None:
    folder = write_folder(tmp_path / "data", **case.build())
    dataset = load_dataset(folder)
    assert dict(dataset.report.skipped) == {case.kind: 1}
    assert dataset.report.summary() == {"skipped_rows": 1, "skipped_by_kind": {case.kind: 1}}
    (message,) = dataset.report.messages
    assert f"{case.file}:{case.line}: " in message and case.says in message and message.endswith("(skipped)")
    assert str(folder / case.file) in message
    articles, impressions, vectors = case.rows_left
    split = dataset.train
    assert (len(split.news), len(split.behaviors), len(split.entity_vectors.ids)) == (articles, impressions, vectors)
    assert dataset.summary()["warnings"] == [message]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_row_is_an_error_when_strict(tmp_path: Path, case: Case) -> None:
    folder = write_folder(tmp_path / "data", **case.build())
    with pytest.raises(InputError) as info:
        load_dataset(folder, strict=True)
    error = info.value
    assert str(error).startswith(f"{folder / case.file}:{case.line}: ")
    assert case.says in str(error)
    assert error.path == str(folder / case.file) and error.line == case.line
    assert "\n" not in str(error)


def test_skipped_rows_do_not_disturb_the_good_ones(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "data", behaviors=rows_with(BEHAVIORS, 2, 4, "N1-x N3-1"))
    behaviors = load_dataset(folder).train.behaviors
    assert behaviors.impression_ids.tolist() == [1, 3, 4]
    assert [behaviors.candidate_ids(i) for i in range(3)] == [["N3", "N2"], ["N1", "N2", "N9"], ["N4", "N2"]]
    assert [behaviors.candidate_labels(i).tolist() for i in range(3)] == [[1, 0], [1, 0, 0], [0, 1]]
    assert [behaviors.history_ids(i) for i in range(3)] == [["N1", "N2"], ["N3"], ["N4", "N1"]]


def test_strict_names_the_first_bad_line_not_the_first_found(tmp_path: Path) -> None:
    # The reader checks times before labels; the report must still name line 2 (the label) first.
    rows = rows_with(rows_with(BEHAVIORS, 4, 2, "yesterday"), 2, 4, "N1-2 N3-1")
    folder = write_folder(tmp_path / "data", behaviors=rows)
    with pytest.raises(InputError, match=r"behaviors\.tsv:2: bad label in 'N1-2'"):
        load_dataset(folder, strict=True)
    report = load_dataset(folder).report
    assert dict(report.skipped) == {"bad_label": 1, "bad_time": 1}
    assert [m.split(": ")[0].rsplit(":", 1)[1] for m in report.messages] == ["2", "4"]


def test_many_bad_rows_are_all_counted_with_a_few_messages(tmp_path: Path) -> None:
    good = BEHAVIORS[0]
    rows = [good] + [[str(10 + i), "U9", "not a time", "", "N1-1"] for i in range(50)]
    dataset = load_dataset(write_folder(tmp_path / "data", behaviors=rows))
    assert dataset.report.skipped["bad_time"] == 50
    assert 0 < len(dataset.report.messages) <= 20  # counts are exact, messages capped
    assert len(dataset.train.behaviors) == 1


def test_a_file_with_no_good_rows_is_an_error(tmp_path: Path) -> None:
    rows = [[str(i), "U1", "13/45/2019 1:00:00 PM", "", "N1-1"] for i in (1, 2)]
    folder = write_folder(tmp_path / "data", behaviors=rows)
    with pytest.raises(InputError, match=r"behaviors\.tsv: no valid impression rows"):
        load_dataset(folder)


# --------------------------------------------------------------------------- duplicate articles


def test_duplicate_article_with_the_same_content_is_merged_silently(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "data", news=[*NEWS, NEWS[1], NEWS[0]])
    dataset = load_dataset(folder, strict=True)
    assert dataset.report.total_skipped == 0
    assert dataset.train.news.ids.tolist() == ["N1", "N2", "N3", "N4"]


def test_duplicate_article_keeps_the_first_version(tmp_path: Path) -> None:
    changed = rows_with(NEWS, 2, 3, "Another title")[1]
    news = load_dataset(write_folder(tmp_path / "data", news=[*NEWS, changed])).train.news
    assert news.frame.set_index("news_id").loc["N2", "title"] == "Birdie on the last hole"


def test_valid_article_after_a_skipped_one_with_the_same_id_is_kept(tmp_path: Path) -> None:
    # Line 1 is skipped (empty title); line 5 is the only valid N1 and must not vanish as its "repeat".
    news = [rows_with(NEWS, 1, 3, " ")[0], *NEWS[1:], NEWS[0]]
    report = LoadReport()
    result = read_news(write_folder(tmp_path / "data", news=news) / "news.tsv", report)
    assert dict(report.skipped) == {"empty_title": 1}
    assert sorted(result.ids.tolist()) == ["N1", "N2", "N3", "N4"]
    assert result.frame.set_index("news_id").loc["N1", "title"] == "Mayor opens the bridge"


# --------------------------------------------------------------------------- files that are not there or not files


@pytest.mark.parametrize("name", ["news.tsv", "behaviors.tsv"])
@pytest.mark.parametrize("strict", [False, True])
def test_missing_file(tmp_path: Path, name: str, strict: bool) -> None:
    folder = write_folder(tmp_path / "data")
    (folder / name).unlink()
    with pytest.raises(InputError) as info:
        load_dataset(folder, strict=strict)
    assert str(info.value) == f"{folder / name}: missing file"


@pytest.mark.parametrize(("name", "argument"), [("news.tsv", "news"), ("behaviors.tsv", "behaviors"), ("entity_embedding.vec", "vectors")])
@pytest.mark.parametrize("content", [b"", b"\n\n  \n"], ids=["zero-bytes", "only-blank-lines"])
def test_empty_file(tmp_path: Path, name: str, argument: str, content: bytes) -> None:
    folder = write_folder(tmp_path / "data", **{argument: content})
    for strict in (False, True):
        with pytest.raises(InputError) as info:
            load_dataset(folder, strict=strict)
        assert str(info.value) == f"{folder / name}: file is empty"


@pytest.mark.parametrize("name", ["news.tsv", "behaviors.tsv", "entity_embedding.vec"])
def test_directory_where_a_file_should_be(tmp_path: Path, name: str) -> None:
    folder = write_folder(tmp_path / "data")
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(InputError) as info:
        load_dataset(folder)
    assert str(info.value) == f"{folder / name}: is a directory where a file was expected"


def test_dataset_folder_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="dataset folder does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file; expected a dataset folder"):
        load_dataset(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: not a MIND folder"):
        load_dataset(tmp_path / "empty")
    write_folder(tmp_path / "only_dev" / "dev")
    with pytest.raises(InputError, match="has no train/ split"):
        load_dataset(tmp_path / "only_dev")


def test_readers_check_the_file_themselves(tmp_path: Path) -> None:
    for reader in (read_news, read_behaviors, read_entity_vectors):
        with pytest.raises(InputError, match="missing file"):
            reader(tmp_path / "absent.tsv")


# --------------------------------------------------------------------------- over-long lines


def test_over_long_line_with_a_small_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mind, "MAX_LINE_BYTES", 1000)
    news = rows_with(NEWS, 3, 4, "a" * 1000)  # line 3 is now > 1000 bytes; every other line is shorter
    folder = write_folder(tmp_path / "data", news=news)
    others = [line for i, line in enumerate(tsv(news).split(b"\n")) if i != 2]
    others += tsv(BEHAVIORS).split(b"\n") + tsv(vector_rows()).split(b"\n")
    assert max(map(len, others)) <= 1000
    dataset = load_dataset(folder)
    assert dict(dataset.report.skipped) == {"line_too_long": 1}
    line_length = len(tsv(news).split(b"\n")[2])
    assert f"news.tsv:3: line is {line_length:,} bytes long; the limit is 1,000" in dataset.report.messages[0]
    assert dataset.train.news.ids.tolist() == ["N1", "N2", "N4"]
    with pytest.raises(InputError, match=r"news\.tsv:3: line is .* bytes long; the limit is 1,000"):
        load_dataset(folder, strict=True)


def test_over_long_line_that_is_also_not_utf8_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mind, "MAX_LINE_BYTES", 1000)
    lines = tsv(BEHAVIORS).split(b"\n")
    lines[1] = lines[1] + b" N5-0" + b"\xff" * 1000
    dataset = load_dataset(write_folder(tmp_path / "data", behaviors=b"\n".join(lines)))
    assert dict(dataset.report.skipped) == {"line_too_long": 1}
    assert len(dataset.train.behaviors) == 3


def test_line_just_over_one_mebibyte(tmp_path: Path) -> None:
    limit = 1 << 20
    assert mind.MAX_LINE_BYTES == limit
    prefix = "\t".join(NEWS[1][:4]) + "\t"
    suffix = "\t" + "\t".join(NEWS[1][5:])
    at_limit = prefix + "x" * (limit - len(prefix) - len(suffix)) + suffix
    over = prefix + "y" * (limit + 1 - len(prefix) - len(suffix)) + suffix
    assert len(at_limit.encode()) == limit and len(over.encode()) == limit + 1
    body = tsv(NEWS[:1]) + over.encode() + b"\n" + tsv(NEWS[2:])
    folder = write_folder(tmp_path / "over", news=body)
    dataset = load_dataset(folder)
    assert dict(dataset.report.skipped) == {"line_too_long": 1}
    assert "news.tsv:2: line is 1,048,577 bytes long; the limit is 1,048,576" in dataset.report.messages[0]
    assert dataset.train.news.ids.tolist() == ["N1", "N3", "N4"]
    with pytest.raises(InputError, match=r"news\.tsv:2: line is 1,048,577 bytes long"):
        load_dataset(folder, strict=True)
    # Exactly at the limit is still a line.
    folder = write_folder(tmp_path / "at", news=tsv(NEWS[:1]) + at_limit.encode() + b"\n" + tsv(NEWS[2:]))
    news = load_dataset(folder, strict=True).train.news
    assert news.ids.tolist() == ["N1", "N2", "N3", "N4"]
    assert len(news.frame.loc[1, "abstract"]) == limit - len(prefix) - len(suffix)


# --------------------------------------------------------------------------- files with no valid rows


def test_all_iso_times_name_the_reason_and_its_first_line(tmp_path: Path) -> None:
    rows = [[str(i), f"U{i}", f"2019-11-{9 + i:02d}T10:00:00", "N1", "N2-1"] for i in range(1, 6)]
    folder = write_folder(tmp_path / "data", behaviors=rows)
    for strict in (False, True):
        with pytest.raises(InputError) as info:
            load_dataset(folder, strict=strict)
        message = str(info.value)
        assert "'2019-11-10T10:00:00'" in message and "ISO 8601" in message and "M/D/YYYY h:mm:ss AM" in message
        assert "\n" not in message
    assert message.startswith(f"{folder / 'behaviors.tsv'}:1: ")  # strict: the first line
    with pytest.raises(InputError) as info:
        load_dataset(folder)
    assert str(info.value).startswith(
        f"{folder / 'behaviors.tsv'}: no valid impression rows: 5 of 5 lines have a bad time (first at line 1: "
        "bad time '2019-11-10T10:00:00'"
    )


def test_a_news_file_with_seven_columns_says_so(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "data", news=[row[:7] for row in NEWS])
    with pytest.raises(InputError) as info:
        load_dataset(folder)
    assert str(info.value) == (
        f"{folder / 'news.tsv'}: no valid article rows: the file has 7 tab-separated columns (all 4 lines read), and "
        "MIND's news.tsv has 8 (news_id, category, subcategory, title, abstract, url, title_entities, abstract_entities)"
    )


def test_the_most_common_reason_comes_first_with_the_others_counted(tmp_path: Path) -> None:
    rows = [[str(i), "U1", "yesterday", "", "N1-1"] for i in range(1, 4)]  # lines 1-3: bad time
    rows.insert(1, ["x", "U1", "11/12/2019 2:14:46 PM", "", "N1-1"])  # line 2: bad impression id
    body = tsv(rows) + b"\n"  # line 5: blank
    with pytest.raises(InputError) as info:
        read_behaviors(write_folder(tmp_path / "data", behaviors=body) / "behaviors.tsv")
    assert str(info.value).endswith(
        "no valid impression rows: 3 of 5 lines have a bad time (first at line 1: bad time 'yesterday' (expected like "
        "'11/12/2019 2:14:46 PM')); 1 have a bad impression id (first at line 2); 1 are blank (first at line 5)"
    )


# --------------------------------------------------------------------------- runs of bad lines, endless lines


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 64 bytes and a run limit of 5 lines or 2,000 bytes, so runs cross blocks in small files."""
    monkeypatch.setattr(mind, "READ_BLOCK_BYTES", 64)
    monkeypatch.setattr(mind, "MAX_BAD_RUN_LINES", 5)
    monkeypatch.setattr(mind, "MAX_BAD_RUN_BYTES", 2000)
    monkeypatch.setattr(mind, "MAX_LINE_BYTES", 500)


def _behaviors_with_bad_runs(runs: list[int]) -> bytes:
    """Good rows separated by runs of ``runs[i]`` bad lines (a word, no tabs)."""
    lines = []
    for i, run in enumerate(runs):
        lines.append("\t".join([str(i + 1), "U1", "11/12/2019 2:14:46 PM", "N1", "N2-1 N3-0"]))
        lines += ["garbage"] * run
    return ("\n".join(lines) + "\n").encode()


def test_runs_up_to_the_limit_are_skipped(tmp_path: Path, small_limits) -> None:
    path = write_folder(tmp_path / "data", behaviors=_behaviors_with_bad_runs([5, 5, 5, 0])) / "behaviors.tsv"
    report = LoadReport()
    behaviors = read_behaviors(path, report)
    assert behaviors.impression_ids.tolist() == [1, 2, 3, 4]
    assert dict(report.skipped) == {"wrong_columns": 15}


def test_a_run_over_the_limit_refuses_the_file_naming_its_lines(tmp_path: Path, small_limits) -> None:
    path = write_folder(tmp_path / "data", behaviors=_behaviors_with_bad_runs([5, 6, 0])) / "behaviors.tsv"
    with pytest.raises(InputError) as info:
        read_behaviors(path, LoadReport())
    # Line 1 good, 2-6 bad, 7 good, 8-13 bad: the sixth bad line in a row is line 13.
    assert str(info.value).startswith(
        f"{path}: stopped reading at line 13: lines 8-13 are all bad (the limit is 5 bad lines or 2,000 bytes in a "
        "row): 11 of 13 lines have the wrong number of columns (first at line 2: expected 5 tab-separated columns"
    )


def test_a_run_of_bad_bytes_refuses_the_file(tmp_path: Path, small_limits) -> None:
    long_line = "x" * 600  # over MAX_LINE_BYTES (500): skipped; four in a row are 2,400 bytes > 2,000
    body = _behaviors_with_bad_runs([0]) + ((long_line + "\n") * 4).encode() + _behaviors_with_bad_runs([0])
    path = write_folder(tmp_path / "data", behaviors=body) / "behaviors.tsv"
    with pytest.raises(InputError) as info:
        read_behaviors(path, LoadReport())
    # Lines 2-4 (1,800 bytes) are skipped; line 5 passes the limit while it is read, before it has ended.
    assert str(info.value).startswith(f"{path}: stopped reading at line 5: lines 2-5 are all bad (the limit is 5 bad "
                                      "lines or 2,000 bytes in a row): line 5 is ")
    assert "3 of 4 lines are too long (first at line 2: line is 600 bytes long; the limit is 500)" in str(info.value)


def test_an_endless_line_stops_at_the_byte_limit(tmp_path: Path) -> None:
    """A sparse 64 GiB file of zero bytes (no line end at all): refused after MAX_BAD_RUN_BYTES, not read to the end."""
    folder = write_folder(tmp_path / "data")
    with open(folder / "behaviors.tsv", "wb") as handle:
        handle.truncate(64 << 30)
    with pytest.raises(InputError) as info:
        load_dataset(folder)
    assert str(info.value).startswith(
        f"{folder / 'behaviors.tsv'}: stopped reading at line 1: line 1 is bad (the limit is 10,000 bad lines or "
        f"{mind.MAX_BAD_RUN_BYTES >> 20} MiB in a row): line 1 is "
    )
    assert "has not ended; MIND's behaviors.tsv has 5" in str(info.value)


def test_bookkeeping_keeps_counts_and_a_few_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many bad rows over many blocks: exact counts, at most MAX_KEPT_PER_KIND messages, in line order."""
    from recengine.data.report import MAX_KEPT_PER_KIND

    monkeypatch.setattr(mind, "READ_BLOCK_BYTES", 200)
    rows = [[str(i), "U1", "11/12/2019 2:14:46 PM" if i % 7 == 0 else "soon", "", "N1-1"] for i in range(1, 701)]
    report = LoadReport()
    behaviors = read_behaviors(write_folder(tmp_path / "data", behaviors=rows) / "behaviors.tsv", report)
    assert behaviors.impression_ids.tolist() == list(range(7, 701, 7))
    assert dict(report.skipped) == {"bad_time": 600}
    assert len(report.messages) == MAX_KEPT_PER_KIND
    expected_lines = [i for i in range(1, 701) if i % 7][:MAX_KEPT_PER_KIND]
    assert [int(m.split(": ")[0].rsplit(":", 1)[1]) for m in report.messages] == expected_lines


def test_blocks_do_not_change_what_is_kept_or_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bad-row case read in blocks of a few bytes, or checked two lines at a time: the same rows, counts and
    messages as in one block."""
    for case in CASES:
        folder = write_folder(tmp_path / case.id, **case.build())
        whole = load_dataset(folder)
        monkeypatch.setattr(mind, "READ_BLOCK_BYTES", 13)
        split = load_dataset(folder)
        monkeypatch.undo()
        monkeypatch.setattr(mind, "MAX_STEP_LINES", 2)
        stepped = load_dataset(folder)
        monkeypatch.undo()
        assert stepped.report.messages == whole.report.messages, case.id
        assert stepped.train.news.frame.equals(whole.train.news.frame), case.id
        assert split.report.messages == whole.report.messages, case.id
        assert split.train.news.frame.equals(whole.train.news.frame), case.id
        assert split.train.behaviors.impression_ids.tolist() == whole.train.behaviors.impression_ids.tolist(), case.id
        assert split.train.entity_vectors.ids == whole.train.entity_vectors.ids, case.id


def test_repeats_across_blocks_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mind, "READ_BLOCK_BYTES", 16)
    behaviors = [*BEHAVIORS, ["1", "U7", "11/14/2019 1:00:00 PM", "", "N1-1"]]
    news = [*NEWS, rows_with(NEWS, 1, 3, "Other title")[0], NEWS[1]]
    dataset_report = load_dataset(write_folder(tmp_path / "data", news=news, behaviors=behaviors)).report
    assert dict(dataset_report.skipped) == {"duplicate_impression": 1, "duplicate_id": 1}
    assert any("behaviors.tsv:5: impression id 1 repeats (first at line 1)" in m for m in dataset_report.messages)
    assert any("news.tsv:5: article N1 appears again with different content (first at line 1)" in m
               for m in dataset_report.messages)


def test_truth_and_meta_are_read_in_bounded_memory(tmp_path: Path) -> None:
    """The dataset's other files: an endless truth.tsv fails at its first bad line, an endless meta.json at its limit."""
    root = tmp_path / "data"
    write_folder(root / "train")
    write_folder(root / "dev")
    (root / "dev" / "truth.tsv").symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"truth\.tsv: stopped reading at line 1: line 1 is bad"):
        load_dataset(root)
    (root / "dev" / "truth.tsv").unlink()
    (root / "dev" / "truth.tsv").write_text("1\tN3\t0.25\n1\tN2\t1.5\n")
    with pytest.raises(InputError, match=r"truth\.tsv:2: probability must be a number in \[0, 1\]"):
        load_dataset(root)
    (root / "dev" / "truth.tsv").write_text("1\tN3\t0.25\n1\tN2\t1\n")
    assert load_dataset(root).truth.values.tolist() == [[1, "N3", 0.25], [1, "N2", 1.0]]
    (root / "meta.json").symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"meta\.json: over 16 MiB"):
        load_dataset(root)
