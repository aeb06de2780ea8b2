"""Bad MIND files beyond what the data tests cover: a 200 MB line read in bounded memory, endless inputs (a link
to /dev/urandom, a FIFO fed forever) stopped quickly in bounded memory, every bad-row kind refused by the
dashboard's import with nothing recorded, and readers that never fail with anything but an InputError on
arbitrary bytes.

Already covered elsewhere (not repeated here): each bad-row kind skipped/counted or strict with file:line
(tests/test_mind_bad_input.py), the CLI's exit 2 and one line for them (tests/test_data_cli.py), paths outside the
import roots and zip escapes (tests/test_imports.py, tests/ui/test_pages.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_mind_bad_input as bad_rows  # tests/ is on sys.path: the bad-row cases are defined once, there
from recengine.data.imports import import_folder
from recengine.data.mind import MAX_LINE_BYTES, load_dataset, read_behaviors, read_entity_vectors, read_news
from recengine.data.report import LoadReport
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.workspace import Workspace

from .conftest import assert_one_line_error, finish, folder_digest, run_cli, start_cli

LINE_MB = 200


def write_big_line_folder(folder: Path, megabytes: int) -> Path:
    """A valid split whose news.tsv has, as line 2, one article with a ``megabytes`` MB abstract (streamed to disk:
    the test never holds the line)."""
    bad_rows.write_folder(folder)
    news = bad_rows.tsv(bad_rows.NEWS).split(b"\n")
    chunk = b"a" * (1 << 20)
    with open(folder / "news.tsv", "wb") as handle:
        handle.write(news[0] + b"\n")
        handle.write(b"N9\tnews\tnewsus\tA very long article\t")
        for _ in range(megabytes):
            handle.write(chunk)
        handle.write(b"\thttps://example.org/N9\t[]\t[]\n")
        handle.write(b"\n".join(news[1:]))
    return folder


@pytest.fixture(scope="module")
def big_line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_big_line_folder(tmp_path_factory.mktemp("big") / "data", LINE_MB)


def test_a_200_mb_line_is_skipped_without_holding_it(big_line: Path, tmp_path: Path):
    small = bad_rows.write_folder(tmp_path / "small")
    baseline = run_cli("data", "check", small, "--json")
    assert baseline.code == 0, baseline.err
    result = run_cli("data", "check", big_line, "--json")
    assert result.code == 0, result.err[-2000:]
    size = (big_line / "news.tsv").stat().st_size
    assert size > LINE_MB << 20
    assert f"news.tsv:2: line is {size - 1 - len(bad_rows.tsv(bad_rows.NEWS)):,} bytes long" in result.err
    assert '"skipped_rows": 1' in result.out and '"articles": 4' in result.out
    # The reader works in blocks: the over-long line is counted, never held (once, or twice as bytes and a copy).
    assert result.peak_mb - baseline.peak_mb < 100, (result.peak_mb, baseline.peak_mb)


def test_a_200_mb_line_is_an_error_when_strict(big_line: Path):
    result = run_cli("data", "check", big_line, "--strict")
    assert_one_line_error(result.code, result.err, "news.tsv:2: line is", f"the limit is {MAX_LINE_BYTES:,}")
    assert result.out == ""


def test_lines_across_read_blocks_are_read_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Lines that straddle the reader's blocks (here shrunk to a few bytes) come back whole and in order."""
    from recengine.data import mind

    folder = bad_rows.write_folder(tmp_path / "data")
    expected = load_dataset(folder, strict=True)
    for block in (1, 7, 64, 1000):
        monkeypatch.setattr(mind, "READ_BLOCK_BYTES", block, raising=False)
        got = load_dataset(folder, strict=True)
        assert got.train.news.frame.equals(expected.train.news.frame)
        assert got.train.behaviors.impression_ids.tolist() == expected.train.behaviors.impression_ids.tolist()
        assert got.train.entity_vectors.ids == expected.train.entity_vectors.ids


def test_over_long_lines_across_blocks_are_counted_with_their_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from recengine.data import mind

    monkeypatch.setattr(mind, "MAX_LINE_BYTES", 300)
    monkeypatch.setattr(mind, "READ_BLOCK_BYTES", 64, raising=False)
    rows = bad_rows.rows_with(bad_rows.NEWS, 2, 4, "b" * 5000)  # line 2 spans ~80 blocks
    rows = bad_rows.rows_with(rows, 4, 4, "c" * 301)  # line 4: just over
    folder = bad_rows.write_folder(tmp_path / "data", news=rows)
    lengths = [len(line) for line in bad_rows.tsv(rows).split(b"\n")]
    report = LoadReport()
    news = read_news(folder / "news.tsv", report)
    assert news.ids.tolist() == ["N1", "N3"]
    assert dict(report.skipped) == {"line_too_long": 2}
    assert f"news.tsv:2: line is {lengths[1]:,} bytes long" in report.messages[0]
    assert f"news.tsv:4: line is {lengths[3]:,} bytes long" in report.messages[1]


# --------------------------------------------------------------------------- endless inputs

# The reader holds a few blocks' working copies at most (4 MiB blocks: ~15 MiB measured over the baseline);
# the bound leaves room for allocator noise, far below the gigabytes an unbounded read reaches in seconds.
ENDLESS_PEAK_OVER_BASELINE_MB = 100
ENDLESS_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def baseline_peak_mb(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak memory of `data check` on a small valid folder: the interpreter and its libraries."""
    small = bad_rows.write_folder(tmp_path_factory.mktemp("baseline") / "small")
    result = run_cli("data", "check", small)
    assert result.code == 0, result.err
    return result.peak_mb


def test_a_link_to_dev_urandom_stops_with_one_line_in_bounded_memory(tmp_path: Path, baseline_peak_mb: float):
    folder = bad_rows.write_folder(tmp_path / "data")
    (folder / "behaviors.tsv").unlink()
    (folder / "behaviors.tsv").symlink_to("/dev/urandom")
    result = run_cli("data", "check", folder, timeout=ENDLESS_TIMEOUT_S)
    last = assert_one_line_error(result.code, result.err, f"{folder / 'behaviors.tsv'}: stopped reading at line 10,001",
                                 "lines 1-10,001 are all bad", "are not UTF-8 (first at line")
    assert all(c.isprintable() for c in last)  # the quoted garbage is escaped: no raw terminal controls
    assert result.out == ""
    assert result.peak_mb - baseline_peak_mb < ENDLESS_PEAK_OVER_BASELINE_MB, (result.peak_mb, baseline_peak_mb)


def test_a_fifo_fed_forever_stops_with_one_line_in_bounded_memory(tmp_path: Path, baseline_peak_mb: float):
    """`yes` writes two-column lines into behaviors.tsv (a FIFO) for as long as anyone reads."""
    folder = bad_rows.write_folder(tmp_path / "data")
    fifo = folder / "behaviors.tsv"
    fifo.unlink()
    os.mkfifo(fifo)
    proc = start_cli("data", "check", folder)
    with open(fifo, "wb") as pipe:
        feeder = subprocess.Popen(["yes", "U1\tnot a row"], stdout=pipe)
    try:
        result = finish(proc, timeout=ENDLESS_TIMEOUT_S)
    finally:
        feeder.kill()
        feeder.wait()
    assert_one_line_error(result.code, result.err, f"{fifo}: stopped reading at line 10,001",
                          "lines 1-10,001 are all bad",
                          "the file has 2 tab-separated columns (all ", "lines read), and MIND's behaviors.tsv has 5")
    assert result.peak_mb - baseline_peak_mb < ENDLESS_PEAK_OVER_BASELINE_MB, (result.peak_mb, baseline_peak_mb)


def test_garbage_between_good_rows_is_read_to_the_end_with_exact_counts(tmp_path: Path):
    """Bad runs shorter than the limit do not stop the reader: 30,000 bad lines in runs of 9,999, all counted."""
    good = "\t".join(bad_rows.BEHAVIORS[0]) + "\n"
    runs = [good.replace("1\t", f"{i + 1}\t", 1) + "garbage\n" * 9_999 for i in range(3)]
    body = "".join(runs) + good.replace("1\t", "4\t", 1)
    folder = bad_rows.write_folder(tmp_path / "data", behaviors=body.encode())
    result = run_cli("data", "check", folder, "--json")
    assert result.code == 0, result.err[-2000:]
    assert '"skipped_by_kind": {\n    "wrong_columns": 29997\n  }' in result.out
    assert '"impressions": 4' in result.out
    assert result.err.count("warning: ") == 20  # counts are exact; messages are the first 20


# --------------------------------------------------------------------------- the dashboard's import


@pytest.mark.parametrize("case", bad_rows.CASES, ids=lambda c: c.id)
def test_the_dashboard_import_refuses_every_bad_row_and_records_nothing(home: Path, case):
    """``import_folder`` (the Data page's "Import a folder", strict by default): an error naming the file and line,
    no dataset, no rows, and the folder read in place untouched."""
    workspace = Workspace(home)
    folder = bad_rows.write_folder(workspace.datasets / "incoming", **case.build())
    before = folder_digest(folder)
    with Store(workspace.store_path) as store:
        with pytest.raises(InputError) as info:
            import_folder(workspace, store, "incoming", "incoming")
        assert str(info.value).startswith(f"{folder / case.file}:{case.line}: ") and case.says in str(info.value)
        assert store.datasets() == []
        for table in ("articles", "users", "histories", "clicks"):
            assert store.db[table].count == 0, table
    assert folder_digest(folder) == before
    assert sorted(p.name for p in workspace.datasets.iterdir()) == ["incoming"]


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda f: (f / "news.tsv").write_bytes(b""), "news.tsv: file is empty"),
        (lambda f: ((f / "behaviors.tsv").unlink(), (f / "behaviors.tsv").mkdir()),
         "behaviors.tsv: is a directory where a file was expected"),
        (lambda f: (f / "news.tsv").unlink(), "news.tsv: missing file"),
    ],
    ids=["empty-file", "directory-for-a-file", "missing-file"],
)
def test_the_dashboard_import_refuses_missing_empty_and_misplaced_files(home: Path, damage, words):
    workspace = Workspace(home)
    folder = bad_rows.write_folder(workspace.datasets / "incoming")
    damage(folder)
    with Store(workspace.store_path) as store:
        for strict in (True, False):
            with pytest.raises(InputError, match=words.replace(".", r"\.")):
                import_folder(workspace, store, "incoming", strict=strict)
        assert store.datasets() == [] and store.db["articles"].count == 0


def test_a_non_strict_import_keeps_the_good_rows_and_says_what_it_skipped(home: Path):
    workspace = Workspace(home)
    rows = bad_rows.rows_with(bad_rows.BEHAVIORS, 3, 2, "13/45/2019 1:00:00 PM")
    bad_rows.write_folder(workspace.datasets / "incoming", behaviors=rows)
    with Store(workspace.store_path) as store:
        result = import_folder(workspace, store, "incoming", strict=False)
        assert result["summary"]["skipped_by_kind"] == {"bad_time": 1}
        assert "behaviors.tsv:3: bad time" in result["summary"]["warnings"][0]
        assert store.db["users"].count == len({r[1] for i, r in enumerate(bad_rows.BEHAVIORS) if i != 2})


# --------------------------------------------------------------------------- arbitrary bytes

PIECES = [b"\t", b"\n", b"\r\n", b" ", b"N1", b"N2", b"U1", b"-1", b"-0", b"-x", b"[]", b'[{"WikidataId": "Q1"}]',
          b"{", b"\xff", b"\x00", b"\xef\xbb\xbf", b"11/12/2019 2:14:46 PM", b"nan", b"1e999", b"0.5", b"Q1", b"7",
          b"\xe2\x80\xa8", b"\x85", b"\x0c", "é".encode(), b"99999999999999999999"]
READERS = {
    "news": read_news,
    "behaviors": read_behaviors,
    "entity_vectors": lambda path, report: read_entity_vectors(path, report, dim=2),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=60), strict=st.booleans())
def test_readers_fail_only_with_an_input_error_on_arbitrary_bytes(tmp_path: Path, pieces: list[bytes], strict: bool):
    path = tmp_path / "file.tsv"
    path.write_bytes(b"".join(pieces))
    for name, reader in READERS.items():
        report = LoadReport(strict=strict)
        try:
            result = reader(path, report)
        except InputError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and "\n" not in message, (name, message)
        else:
            assert len(result.ids if name != "behaviors" else result.impression_ids) >= 1
            assert all(str(path) in m for m in report.messages)


GOOD_NEWS = bad_rows.tsv(bad_rows.NEWS).splitlines(keepends=True)
GARBAGE = st.lists(st.sampled_from(PIECES).filter(lambda p: b"\n" not in p), min_size=1, max_size=8).map(
    lambda parts: b"".join(parts)
).filter(lambda line: line.strip() and line.count(b"\t") != 7)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.tuples(st.integers(0, len(GOOD_NEWS)), GARBAGE), max_size=5))
def test_garbage_lines_among_good_rows_never_disturb_them(tmp_path: Path, garbage):
    lines = list(GOOD_NEWS)
    for position, line in sorted(garbage, key=lambda g: -g[0]):
        lines.insert(position, line + b"\n")
    path = tmp_path / "news.tsv"
    path.write_bytes(b"".join(lines))
    report = LoadReport()
    news = read_news(path, report)
    assert news.ids.tolist() == ["N1", "N2", "N3", "N4"]
    assert news.frame.values.tolist() == [list(row) for row in bad_rows.NEWS]
    assert report.total_skipped == len(garbage)
