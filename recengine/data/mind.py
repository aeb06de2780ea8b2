"""Read and write MIND folders exactly as published.

A split folder holds ``news.tsv`` (8 columns), ``behaviors.tsv`` (5 columns) and
optionally ``entity_embedding.vec`` (WikidataId + 100 floats). A dataset folder
holds ``train/`` and ``dev/`` splits (MIND's own layout); a bare split folder such
as ``../shared/data/mind_sample`` reads too.

Behaviours are held column-wise with integer codes (no Python object per click),
so MIND-small's 230k impressions load in seconds.

Files are read in blocks of READ_BLOCK_BYTES and each block is checked before the next is read, so memory
holds one block's working copies plus the valid rows kept, whatever the file's size or content. Bad rows are
skipped and counted (the first few messages kept), or raise under ``strict``; a file with more than
MAX_BAD_RUN_LINES bad lines (or MAX_BAD_RUN_BYTES bytes of them) in a row is refused, so an endless or
garbage input stops after a few blocks.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recengine import atomic
from recengine.data.report import MAX_KEPT_PER_KIND, LoadReport
from recengine.errors import InputError

NEWS_FILE = "news.tsv"
BEHAVIORS_FILE = "behaviors.tsv"
ENTITY_FILE = "entity_embedding.vec"
TRUTH_FILE = "truth.tsv"
META_FILE = "meta.json"
SPLITS = ("train", "dev")

NEWS_COLUMNS = (
    "news_id",
    "category",
    "subcategory",
    "title",
    "abstract",
    "url",
    "title_entities",
    "abstract_entities",
)
NEWS_LAYOUT = f"MIND's news.tsv has {len(NEWS_COLUMNS)} ({', '.join(NEWS_COLUMNS)})"
BEHAVIOR_COLUMNS = 5
BEHAVIORS_LAYOUT = "MIND's behaviors.tsv has 5 (impression id, user id, time, history, impressions)"
ENTITY_DIM = 100
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
ISO_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}|$)")
# Real MIND lines stay under 20 kB; anything this long is corrupt input, not data.
MAX_LINE_BYTES = 1 << 20
# Files are read and checked in blocks of this size, so an over-long line is measured, never held in memory.
READ_BLOCK_BYTES = 4 << 20
# ... and its lines are checked at most this many at a time (the per-line arrays of a step take ~100 bytes a line).
MAX_STEP_LINES = 1 << 16
# Without --strict, bad lines are skipped; this many in a row (or this many bytes of them) refuse the file:
# MIND files have none, and an endless or binary input must stop rather than be read to the end.
MAX_BAD_RUN_LINES = 10_000
MAX_BAD_RUN_BYTES = 256 << 20
MAX_META_BYTES = 16 << 20
BOM = b"\xef\xbb\xbf"
UNLABELED = -1


# --------------------------------------------------------------------------- lines


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("missing file", path=path)
    if path.is_dir():
        raise InputError("is a directory where a file was expected", path=path)


# How the message about a file with no valid rows describes each kind of skipped line.
KIND_PHRASES = {
    "line_too_long": "are too long",
    "not_utf8": "are not UTF-8",
    "blank_line": "are blank",
    "wrong_columns": "have the wrong number of columns",
    "bad_id": "have a bad news id",
    "empty_title": "have an empty title",
    "bad_entities": "have bad entity JSON",
    "duplicate_id": "repeat an article id with other content",
    "bad_impression_id": "have a bad impression id",
    "duplicate_impression": "repeat an impression id",
    "bad_user": "have a bad user id",
    "bad_time": "have a bad time",
    "no_candidates": "have no candidates",
    "bad_label": "have bad candidate labels",
    "bad_number": "have a value that is not a number",
    "not_finite": "have NaN or Inf values",
    "duplicate_entity": "repeat an entity id",
    "bad_probability": "have a bad probability",
}

Message = Callable[[int], str]


def _size(n: int) -> str:
    return f"{n >> 20:,} MiB" if n % (1 << 20) == 0 else f"{n:,} bytes"


class _Problems:
    """Problems of one file, passed to the report block by block in line order (so ``strict`` names the first
    bad line). Messages are made only for the few lines the report keeps; counts stay exact.

    Also tracks the run of consecutive bad lines (refused past MAX_BAD_RUN_LINES lines or MAX_BAD_RUN_BYTES
    bytes) and each kind's first example, which the message about a file with no valid rows quotes.
    """

    def __init__(self, path: Path, report: LoadReport, layout: str):
        self.path, self.report, self.layout = path, report, layout
        self.pending: list[tuple[str, np.ndarray, Message]] = []
        self.counts: Counter[str] = Counter()
        self.first: dict[str, tuple[int, str]] = {}
        self.widths: set[int] = set()  # column counts of wrong-width lines: two kept at most (one width or several)
        self.lines = 0
        self.run_lines = self.run_bytes = 0
        self.held_blank = 0  # blank lines before the file's first content: recorded only once content comes

    def add(self, kind: str, lines: np.ndarray, message: Message) -> None:
        """``lines`` (ascending line numbers) have problem ``kind``; ``message(i)`` says it for ``lines[i]``."""
        if len(lines):
            self.pending.append((kind, np.asarray(lines, dtype=np.int64), message))

    def flush(self) -> None:
        """Pass the pending problems to the report in line order; under strict, raise the first."""
        pending, self.pending = self.pending, []
        if pending and self.report.strict:
            _, lines, message = min(pending, key=lambda item: item[1][0])
            raise InputError(message(0), path=self.path, line=int(lines[0]))
        examples = []
        for kind, lines, message in pending:
            shown = min(len(lines), max(self.report.room(kind), int(kind not in self.first)))
            kind_examples = [(int(lines[i]), kind, message(i)) for i in range(shown)]
            if kind not in self.first:
                self.first[kind] = (kind_examples[0][0], kind_examples[0][2])
            self.counts[kind] += len(lines)
            self.report.skip(kind, len(lines) - shown)
            examples += kind_examples
        for line, kind, message in sorted(examples, key=lambda item: item[0]):
            self.report.problem(kind, message, path=self.path, line=line)

    def end_block(self, first: int, lengths: np.ndarray, bad: np.ndarray) -> None:
        """After a block's lines (``first`` is the first one's number): flush, then refuse the file when its run
        of bad lines has grown past the limit. ``bad`` marks the block's lines that were skipped."""
        self.flush()
        self.lines += len(bad)
        positions = np.arange(len(bad))
        last_good = np.maximum.accumulate(np.where(bad, -1, positions))
        carried = last_good < 0  # still in the run that the previous block ended with
        total = np.cumsum(lengths)
        run_lines = positions - last_good + np.where(carried, self.run_lines, 0)
        run_bytes = total - np.where(carried, -self.run_bytes, total[np.maximum(last_good, 0)])
        over = (run_lines > MAX_BAD_RUN_LINES) | (run_bytes > MAX_BAD_RUN_BYTES)
        if over.any():
            at = int(np.argmax(over))
            self.refuse_run(first + at - int(run_lines[at]) + 1, first + at)
        self.run_lines, self.run_bytes = int(run_lines[-1]), int(run_bytes[-1])

    def check_long_line(self, number: int, size: int) -> None:
        """Line ``number`` is ``size`` bytes so far and not ended: refuse it before it grows past the limit."""
        if self.run_bytes + size > MAX_BAD_RUN_BYTES:
            detail = f"line {number:,} is {size:,} bytes long so far and has not ended; {self.layout}"
            self.refuse_run(number - self.run_lines, number, detail + (f"; {self.reasons()}" if self.counts else ""))

    def refuse_run(self, start: int, end: int, detail: str | None = None) -> None:
        span = f"line {start:,} is" if start == end else f"lines {start:,}-{end:,} are all"
        raise InputError(
            f"stopped reading at line {end:,}: {span} bad (the limit is {MAX_BAD_RUN_LINES:,} bad lines or "
            f"{_size(MAX_BAD_RUN_BYTES)} in a row): {detail or self.reasons()}",
            path=self.path,
        )

    def reasons(self) -> str:
        """The most common problem with its first line and message, then the other kinds' counts and first lines."""
        counts, first = Counter(self.counts), dict(self.first)
        if self.held_blank:  # a file that so far has only blank lines
            counts["blank_line"] += self.held_blank
            first["blank_line"] = (1, "blank line")
        # Most rows first; among equals, the kind met first.
        (kind, count), *others = sorted(counts.items(), key=lambda item: (-item[1], first[item[0]][0]))
        line, message = first[kind]
        if kind == "wrong_columns" and len(self.widths) == 1 and count == self.lines:
            width = next(iter(self.widths))
            text = f"the file has {width} tab-separated columns (all {count:,} lines read), and {self.layout}"
        else:
            text = f"{count:,} of {self.lines:,} lines {KIND_PHRASES[kind]} (first at line {line:,}: {message})"
        for kind, count in others[:3]:
            text += f"; {count:,} {KIND_PHRASES[kind]} (first at line {first[kind][0]:,})"
        return text + ("; ..." if len(others) > 3 else "")

    def no_valid_rows(self, what: str) -> None:
        raise InputError(f"no valid {what}: {self.reasons()}", path=self.path)


class _Block:
    """A block's well-formed rows while a reader checks them: ``drop`` records a problem and skips the rows."""

    def __init__(self, problems: _Problems, numbers: np.ndarray):
        self.problems, self.numbers = problems, numbers
        self.skipped = np.zeros(len(numbers), dtype=bool)

    def drop(self, kind: str, rows: np.ndarray, describe: Callable[[int], str]) -> None:
        """Skip ``rows`` (ascending positions in the block) as ``kind``; ``describe(row)`` says why (called
        only for the few lines the report shows, after the block is checked)."""
        rows = np.asarray(rows, dtype=np.int64)
        self.problems.add(kind, self.numbers[rows], lambda i: describe(int(rows[i])))
        self.skipped[rows] = True


class _LineReader:
    """One tab-separated file read in blocks of READ_BLOCK_BYTES: the well-formed rows of each block go to the
    caller's ``take`` while the next block waits, so memory holds a block plus what ``take`` keeps.

    ``take(columns, numbers)`` gets a block's well-formed rows (Arrow string columns and their 1-based line
    numbers), records its own problems in ``self.problems`` and returns the mask of rows it skipped.
    """

    def __init__(self, path: Path, report: LoadReport, n_columns: int, layout: str, *, what: str = "",
                 rstrip: bool = False):
        _check_file(path)
        self.path, self.n_columns, self.what, self.rstrip = path, n_columns, what, rstrip
        self.problems = _Problems(path, report, layout)
        self.has_content = False  # a non-blank line was seen: blank lines before it are held back until then

    def read(self, take: Callable[[list[pa.Array], np.ndarray], np.ndarray]) -> _Problems:
        """Read the whole file through ``take``; returns the problems (to raise the no-valid-rows message)."""
        for first, lines, lengths in self._blocks():
            columns, numbers, bad = self._rows(first, lines, lengths)
            del lines
            if len(numbers):
                bad[numbers - first] = take(columns, numbers)
            del columns
            self.problems.end_block(first, lengths, bad)
        if not self.has_content:
            raise InputError("file is empty", path=self.path)
        return self.problems

    def _blocks(self) -> Iterator[tuple[int, pa.Array, np.ndarray]]:
        """(first line number, lines, their lengths in bytes) per block. Lines are an Arrow binary array without
        line ends (no Python object per line); the file's byte-order mark is dropped. A line that grows past
        MAX_LINE_BYTES across blocks is only measured and comes back as b"" with its true length; one that keeps
        growing is refused (``check_long_line``)."""
        number = 1
        pending: list[bytes] = []  # the start of a line that continues into the next block
        pending_size = 0
        with open(self.path, "rb") as handle:
            while block := handle.read(READ_BLOCK_BYTES):
                end = block.rfind(b"\n")
                if end >= 0:
                    head = block.find(b"\n")
                    long_row = pending_size + head if pending_size + head > MAX_LINE_BYTES else None
                    # An over-long first line is left out; the empty line before the block's first "\n" stands for it.
                    region = block[head:end] if long_row else b"".join([*pending, block[:end]])
                    block, pending, pending_size = block[end + 1 :], [], 0
                    lines = self._split(number, region)
                    del region
                    yield from self._steps(number, lines, long_row)
                    number += len(lines)
                pending_size += len(block)
                if pending_size <= MAX_LINE_BYTES:
                    pending.append(block)
                else:
                    pending = []
                    self.problems.check_long_line(number, pending_size)
        if pending_size:
            long_row = pending_size if pending_size > MAX_LINE_BYTES else None
            yield from self._steps(number, self._split(number, b"" if long_row else b"".join(pending)), long_row)

    @staticmethod
    def _split(number: int, region: bytes) -> pa.Array:
        """The lines of ``region`` (the block's, from line ``number``) as an Arrow binary array."""
        if number == 1 and region.startswith(BOM):
            region = region[len(BOM) :]
        return pc.list_flatten(pc.split_pattern(pa.array([region], pa.binary()), pattern=b"\n"))

    @staticmethod
    def _steps(number: int, lines: pa.Array, long_row: int | None) -> Iterator[tuple[int, pa.Array, np.ndarray]]:
        """A block's lines in steps of at most MAX_STEP_LINES (zero-copy slices), with their lengths in bytes (the
        first line's is ``long_row`` when it was only measured): a block of very short lines would otherwise cost
        more per-line bookkeeping than its bytes."""
        for start in range(0, len(lines), MAX_STEP_LINES):
            step = lines.slice(start, MAX_STEP_LINES)
            lengths = pc.binary_length(step).to_numpy(zero_copy_only=False).astype(np.int64)
            if start == 0 and long_row is not None:
                lengths[0] = long_row
            yield number + start, step, lengths

    def _rows(self, first: int, lines: pa.Array, lengths: np.ndarray) -> tuple[list[pa.Array], np.ndarray, np.ndarray]:
        """A block's well-formed rows: their columns and line numbers, and the mask of the block's bad lines
        (undecodable, over-long, blank or of the wrong width; already recorded as problems)."""
        numbers = first + np.arange(len(lines))
        too_long = lengths > MAX_LINE_BYTES
        long_rows = np.flatnonzero(too_long)
        self.problems.add("line_too_long", numbers[long_rows], lambda i: (
            f"line is {lengths[long_rows[i]]:,} bytes long; the limit is {MAX_LINE_BYTES:,}"))
        if len(long_rows):
            lines = pc.if_else(pa.array(too_long), pa.scalar(b"", pa.binary()), lines)
        array = self._decode(lines, numbers)
        del lines
        if self.rstrip:
            array = pc.utf8_rtrim_whitespace(array)
        elif pc.any(pc.ends_with(array, "\r")).as_py():
            array = pc.replace_substring_regex(array, "\r$", "")
        readable = ~(array.is_null().to_numpy(zero_copy_only=False) | too_long)
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(array), ""), False).to_numpy(zero_copy_only=False)
        blank &= readable
        self._blank_lines(numbers, blank)
        parts = pc.split_pattern(array, "\t")
        del array
        widths = pc.fill_null(pc.list_value_length(parts), 0).to_numpy(zero_copy_only=False)
        wrong = np.flatnonzero(readable & ~blank & (widths != self.n_columns))
        self.problems.add("wrong_columns", numbers[wrong], lambda i: (
            f"expected {self.n_columns} tab-separated columns{self.what}, found {widths[wrong[i]]}"))
        if len(self.problems.widths) < 2:
            self.problems.widths.update(np.unique(widths[wrong][:1000]).tolist()[:2])
        keep = readable & ~blank
        keep[wrong] = False
        parts = parts.filter(pa.array(keep))
        return [pc.list_element(parts, i) for i in range(self.n_columns)], numbers[keep], ~keep

    def _decode(self, lines: pa.Array, numbers: np.ndarray) -> pa.Array:
        """The lines as an Arrow string array; a line that is not UTF-8 is null (and a problem)."""
        try:
            return lines.cast(pa.string())
        except pa.ArrowInvalid:
            pass
        texts: list[str | None] = []
        bad: list[int] = []
        reasons: list[str] = []
        for row, raw in enumerate(lines.to_pylist()):
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                texts.append(None)
                if len(reasons) < MAX_KEPT_PER_KIND:  # messages for the few the report keeps; all are counted
                    byte = f"0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line"
                    reasons.append(f"bytes that are not UTF-8 ({byte})")
                bad.append(row)
        self.problems.add("not_utf8", numbers[bad], reasons.__getitem__)
        return pa.array(texts, type=pa.string())

    def _blank_lines(self, numbers: np.ndarray, blank: np.ndarray) -> None:
        """Record blank lines, except that those before the file's first non-blank line wait for it: a file of
        blank lines only is "empty", not a blank-line problem."""
        if not self.has_content:
            if blank.all():
                self.problems.held_blank += len(blank)
                return
            self.has_content = True
            self.problems.add("blank_line", np.arange(1, self.problems.held_blank + 1), lambda i: "blank line")
            self.problems.held_blank = 0
        self.problems.add("blank_line", numbers[blank], lambda i: "blank line")


def _strings(column: pa.Array) -> np.ndarray:
    """An Arrow string column as a numpy object array."""
    return column.to_numpy(zero_copy_only=False).astype(object, copy=False)


def _concat(parts: list[pa.Array], kind: pa.DataType = pa.string()) -> pa.Array:
    return pa.concat_arrays(parts) if parts else pa.array([], type=kind)


def _split_tokens(column: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Space-separated tokens per row: CSR offsets (n+1,) and the flat non-empty tokens."""
    lists = pc.utf8_split_whitespace(column)
    flat = pc.list_flatten(lists)
    offsets = lists.offsets.to_numpy() - lists.offsets[0].as_py()
    nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    if nonempty.all():
        return offsets.astype(np.int64), flat
    rows = np.repeat(np.arange(len(column)), np.diff(offsets))
    counts = np.bincount(rows[nonempty], minlength=len(column))
    ptr = np.zeros(len(column) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, flat.filter(pa.array(nonempty))


# --------------------------------------------------------------------------- news


def parse_entities(raw: str) -> list[dict]:
    """Parse one MIND entity column (a JSON list of objects with ``WikidataId``); '' means none.

    Raises ``ValueError`` with a short reason when the column is malformed.
    """
    if raw == "":
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"entity column is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    if not isinstance(value, list):
        raise ValueError("entity column is not a JSON list")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("WikidataId"), str) or not item["WikidataId"]:
            raise ValueError("entity column has an item without a WikidataId string")
    return value


@dataclass
class News:
    """Articles of one or more splits; one row per distinct ``news_id``.

    ``frame`` has the 8 MIND columns (entity columns kept as the raw JSON text, so
    writing reproduces the input); ``entities[i]`` are row i's WikidataIds, title
    entities first, each once.
    """

    frame: pd.DataFrame
    entities: list[tuple[str, ...]]
    entity_labels: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> np.ndarray:
        return self.frame["news_id"].to_numpy()

    @cached_property
    def position(self) -> dict[str, int]:
        """news_id -> row position."""
        return {news_id: i for i, news_id in enumerate(self.frame["news_id"].tolist())}

    @property
    def without_entities(self) -> int:
        return sum(1 for ents in self.entities if not ents)

    def texts(self, fields: str = "title+abstract") -> list[str]:
        """Text per article for the embedder: the title, or the title and abstract joined."""
        titles = self.frame["title"].tolist()
        if fields == "title":
            return titles
        abstracts = self.frame["abstract"].tolist()
        return [f"{t}. {a}" if a else t for t, a in zip(titles, abstracts)]

    @classmethod
    def empty(cls) -> "News":
        return cls(pd.DataFrame({c: pd.Series(dtype=object) for c in NEWS_COLUMNS}), [], {})

    @classmethod
    def concat(cls, parts: list["News"]) -> "News":
        """Union by ``news_id``, first occurrence wins (callers check conflicts first)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        frame = pd.concat([p.frame for p in parts], ignore_index=True)
        entities = [e for p in parts for e in p.entities]
        keep = ~frame["news_id"].duplicated().to_numpy()
        labels: dict[str, str] = {}
        for p in parts:
            for k, v in p.entity_labels.items():
                labels.setdefault(k, v)
        return cls(
            frame.loc[keep].reset_index(drop=True),
            [e for e, k in zip(entities, keep) if k],
            labels,
        )


class _NewsRows:
    """read_news's check of each block: keeps the valid articles, each id once (the first version)."""

    def __init__(self, problems: _Problems):
        self.problems = problems
        self.kept: list[np.ndarray] = []  # per block: (rows, 8) object array of the valid rows
        self.where: dict[str, tuple[int, int, int]] = {}  # news_id -> (block, row in it, line) of its kept row
        self.entities: list[tuple[str, ...]] = []
        self.labels: dict[str, str] = {}

    def take(self, columns: list[pa.Array], numbers: np.ndarray) -> np.ndarray:
        block = _Block(self.problems, numbers)
        values = np.stack([_strings(column) for column in columns], axis=1)
        ids = values[:, 0]
        bad_id = ~pc.match_substring_regex(columns[0], r"^\S+$").to_numpy(zero_copy_only=False)
        block.drop("bad_id", np.flatnonzero(bad_id), lambda row: f"bad news id {ids[row]!r}")
        empty = pc.equal(pc.utf8_trim_whitespace(columns[3]), "").to_numpy(zero_copy_only=False) & ~block.skipped
        block.drop("empty_title", np.flatnonzero(empty), lambda row: f"article {ids[row]} has an empty title")
        entities = self._entities(block, values)
        rows = self._first_versions(block, values)
        self.kept.append(values[rows])
        self.entities += [entities[row] for row in rows]
        return block.skipped

    def _entities(self, block: _Block, values: np.ndarray) -> dict[int, tuple[str, ...]]:
        """Each valid row's WikidataIds (title's first, each once); rows with malformed entity JSON are dropped."""
        parsed: dict[str, list[dict] | str] = {}  # entity columns repeat a lot ("[]" above all): parse each once
        entities: dict[int, tuple[str, ...]] = {}
        reasons: dict[int, str] = {}
        for row in np.flatnonzero(~block.skipped):
            items: list[dict] = []
            for raw in values[row, 6:8]:
                if raw not in parsed:
                    try:
                        parsed[raw] = parse_entities(raw)
                    except ValueError as exc:
                        parsed[raw] = str(exc)
                if isinstance(parsed[raw], str):
                    reasons[row] = parsed[raw]
                    break
                items.extend(parsed[raw])
            else:
                entities[row] = self._entity_ids(items)
        ids = values[:, 0]
        block.drop("bad_entities", sorted(reasons), lambda row: f"article {ids[row]}: {reasons[row]}")
        return entities

    def _entity_ids(self, items: list[dict]) -> tuple[str, ...]:
        ids: dict[str, None] = {}
        for item in items:
            ids[item["WikidataId"]] = None
            label = item.get("Label")
            if isinstance(label, str) and label:
                self.labels.setdefault(item["WikidataId"], label)
        return tuple(ids)

    def _first_versions(self, block: _Block, values: np.ndarray) -> list[int]:
        """The valid rows whose id is new; a repeat with the same content is merged silently, one with other
        content is a problem. Only valid rows count: a valid row is never dropped as a repeat of a skipped one."""
        rows: list[int] = []
        differs: dict[int, int] = {}  # row -> line of the version kept
        for row in np.flatnonzero(~block.skipped):
            news_id = values[row, 0]
            if news_id not in self.where:
                self.where[news_id] = (len(self.kept), len(rows), int(block.numbers[row]))
                rows.append(row)
                continue
            index, position, line = self.where[news_id]
            first = values[rows[position]] if index == len(self.kept) else self.kept[index][position]
            if tuple(first) != tuple(values[row]):
                differs[row] = line
        ids = values[:, 0]
        block.drop("duplicate_id", sorted(differs), lambda row: (
            f"article {ids[row]} appears again with different content (first at line {differs[row]})"))
        return rows

    def news(self) -> News:
        frame = pd.DataFrame(np.concatenate(self.kept), columns=list(NEWS_COLUMNS), dtype=object)
        return News(frame, self.entities, self.labels)


def read_news(path: str | Path, report: LoadReport | None = None) -> News:
    """Read a MIND ``news.tsv``; bad rows are skipped and counted in ``report`` (or raise when strict)."""
    reader = _LineReader(Path(path), report or LoadReport(), len(NEWS_COLUMNS), NEWS_LAYOUT)
    rows = _NewsRows(reader.problems)
    problems = reader.read(rows.take)
    if not rows.entities:
        problems.no_valid_rows("article rows")
    return rows.news()


def write_news(path: str | Path, news: News) -> None:
    """Write ``news.tsv`` atomically, byte-for-byte in MIND's layout."""
    body = "".join("\t".join(row) + "\n" for row in news.frame[list(NEWS_COLUMNS)].itertuples(index=False))
    atomic.write_text(path, body)


# --------------------------------------------------------------------------- behaviours


@dataclass
class Behaviors:
    """Impressions, column-wise. Article and user ids are integer codes into ``articles`` / ``users``.

    Row ``i``'s history is ``history[history_ptr[i]:history_ptr[i+1]]`` (codes, oldest first) and its
    candidates and labels are ``candidates``/``labels`` over ``candidate_ptr[i]:candidate_ptr[i+1]``;
    labels are 0/1, or -1 for MIND's unlabeled test split.
    """

    impression_ids: np.ndarray  # (n,) int64
    user_index: np.ndarray  # (n,) int32 into users
    users: np.ndarray  # (U,) object: user ids
    times: np.ndarray  # (n,) datetime64[s]
    history_ptr: np.ndarray  # (n+1,) int64
    history: np.ndarray  # (H,) int32 into articles
    candidate_ptr: np.ndarray  # (n+1,) int64
    candidates: np.ndarray  # (C,) int32 into articles
    labels: np.ndarray  # (C,) int8
    articles: np.ndarray  # (A,) object: every article id referenced

    def __len__(self) -> int:
        return len(self.impression_ids)

    def history_ids(self, i: int) -> list[str]:
        return self.articles[self.history[self.history_ptr[i] : self.history_ptr[i + 1]]].tolist()

    def candidate_ids(self, i: int) -> list[str]:
        return self.articles[self.candidates[self.candidate_ptr[i] : self.candidate_ptr[i + 1]]].tolist()

    def candidate_labels(self, i: int) -> np.ndarray:
        return self.labels[self.candidate_ptr[i] : self.candidate_ptr[i + 1]]

    @property
    def history_lengths(self) -> np.ndarray:
        return np.diff(self.history_ptr)

    @property
    def candidate_counts(self) -> np.ndarray:
        return np.diff(self.candidate_ptr)

    @property
    def impression_user_ids(self) -> np.ndarray:
        return self.users[self.user_index]

    @property
    def candidate_rows(self) -> np.ndarray:
        """(C,) row index of every candidate."""
        return np.repeat(np.arange(len(self)), self.candidate_counts)

    @property
    def labeled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def select(self, rows: np.ndarray) -> "Behaviors":
        """A new Behaviors with the given rows (in that order), sharing the id vocabularies."""
        rows = np.asarray(rows, dtype=np.int64)
        h_ptr, h_idx = gather_ranges(self.history_ptr, rows)
        c_ptr, c_idx = gather_ranges(self.candidate_ptr, rows)
        return Behaviors(
            impression_ids=self.impression_ids[rows],
            user_index=self.user_index[rows],
            users=self.users,
            times=self.times[rows],
            history_ptr=h_ptr,
            history=self.history[h_idx],
            candidate_ptr=c_ptr,
            candidates=self.candidates[c_idx],
            labels=self.labels[c_idx],
            articles=self.articles,
        )

    def compact(self) -> "Behaviors":
        """The same impressions with ``users`` and ``articles`` reduced to the ids actually referenced."""
        used_users, user_index = np.unique(self.user_index, return_inverse=True)
        codes = np.concatenate([self.history, self.candidates])
        used_articles, article_index = np.unique(codes, return_inverse=True)
        return Behaviors(
            impression_ids=self.impression_ids,
            user_index=user_index.astype(np.int32),
            users=self.users[used_users],
            times=self.times,
            history_ptr=self.history_ptr,
            history=article_index[: len(self.history)].astype(np.int32),
            candidate_ptr=self.candidate_ptr,
            candidates=article_index[len(self.history) :].astype(np.int32),
            labels=self.labels,
            articles=self.articles[used_articles],
        )

    @classmethod
    def concat(cls, parts: list["Behaviors"]) -> "Behaviors":
        """Impressions of several parts one after the other, with merged id vocabularies."""
        articles = pd.Index(pd.unique(np.concatenate([p.articles for p in parts])))
        users = pd.Index(pd.unique(np.concatenate([p.users for p in parts])))

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        def offsets(name: str) -> np.ndarray:
            lengths = np.concatenate([np.diff(getattr(p, name)) for p in parts])
            ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=ptr[1:])
            return ptr

        return cls(
            impression_ids=joined("impression_ids"),
            user_index=np.concatenate([users.get_indexer(p.users)[p.user_index] for p in parts]).astype(np.int32),
            users=np.asarray(users, dtype=object),
            times=joined("times"),
            history_ptr=offsets("history_ptr"),
            history=np.concatenate([articles.get_indexer(p.articles)[p.history] for p in parts]).astype(np.int32),
            candidate_ptr=offsets("candidate_ptr"),
            candidates=np.concatenate([articles.get_indexer(p.articles)[p.candidates] for p in parts]).astype(np.int32),
            labels=joined("labels"),
            articles=np.asarray(articles, dtype=object),
        )


def gather_ranges(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR offsets ``ptr``, the new offsets and flat indices of ``rows``' ranges, concatenated."""
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    flat = np.arange(new_ptr[-1], dtype=np.int64) - np.repeat(new_ptr[:-1] - starts, lengths)
    return new_ptr, flat


def parse_times(values: list[str]) -> np.ndarray:
    """MIND time strings (``11/12/2019 2:14:46 PM``) to datetime64[s]; unparseable ones become NaT."""
    parsed = pd.to_datetime(pd.Series(values, dtype=object), format=TIME_FORMAT, errors="coerce")
    return parsed.to_numpy(dtype="datetime64[s]")


def format_times(times: np.ndarray) -> list[str]:
    """datetime64 values to MIND's ``M/D/YYYY H:MM:SS AM`` (no leading zeros on month, day, hour)."""
    stamps = pd.DatetimeIndex(times)
    hours = stamps.hour.to_numpy()
    hour12 = np.where(hours % 12 == 0, 12, hours % 12)
    return [
        f"{mo}/{d}/{y} {h}:{mi:02d}:{s:02d} {'PM' if hh >= 12 else 'AM'}"
        for mo, d, y, h, mi, s, hh in zip(
            stamps.month, stamps.day, stamps.year, hour12, stamps.minute, stamps.second, hours
        )
    ]


def _label_problem(token: str) -> str | None:
    """Why one impression token is malformed, or None. Valid: ``N123-0``, ``N123-1`` or an unlabeled ``N123``."""
    news_id, dash, label = token.rpartition("-")
    if not dash:
        return None
    if not news_id:
        return f"impression item {token!r} has no news id"
    if label not in ("0", "1"):
        return f"bad label in {token!r} (expected -0 or -1)"
    return None


def _time_problem(value: str) -> str:
    """Why a time string is not MIND's; ISO 8601 (which some exports write) is named as such."""
    if ISO_TIME.match(value):
        return f"bad time {value!r}: ISO 8601, not MIND's 'M/D/YYYY h:mm:ss AM' (like '11/12/2019 2:14:46 PM')"
    return f"bad time {value!r} (expected like '11/12/2019 2:14:46 PM')"


class _BehaviorRows:
    """read_behaviors's check of each block: keeps the valid impressions' columns.

    Whether the file is labeled (``N1-0`` items) is decided by the first block with a valid impression; an
    impression id may appear once (later valid rows with it are skipped).
    """

    def __init__(self, problems: _Problems):
        self.problems = problems
        self.labeled: bool | None = None
        self.seen_ids = np.zeros(0, dtype=np.int64)  # sorted ids of the kept impressions
        self.seen_lines = np.zeros(0, dtype=np.int64)  # their line numbers, in the same order
        self.parts: dict[str, list] = {"ids": [], "users": [], "times": [], "history": [], "items": []}

    def take(self, columns: list[pa.Array], numbers: np.ndarray) -> np.ndarray:
        imp_col, user_col, time_col, history_col, items_col = columns
        block = _Block(self.problems, numbers)
        bad_id = ~pc.match_substring_regex(imp_col, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
        block.drop("bad_impression_id", np.flatnonzero(bad_id),
                   lambda row: f"impression id {imp_col[row].as_py()!r} is not a whole number")
        ids = np.zeros(len(numbers), dtype=np.int64)
        ids[~bad_id] = pc.cast(imp_col.filter(pa.array(~bad_id)), pa.int64()).to_numpy()
        bad_user = ~pc.match_substring_regex(user_col, r"^\S+$").to_numpy(zero_copy_only=False) & ~block.skipped
        block.drop("bad_user", np.flatnonzero(bad_user), lambda row: f"bad user id {user_col[row].as_py()!r}")
        times = pc.strptime(time_col, format=TIME_FORMAT, unit="s", error_is_null=True)
        bad_time = times.is_null().to_numpy(zero_copy_only=False) & ~block.skipped
        block.drop("bad_time", np.flatnonzero(bad_time), lambda row: _time_problem(time_col[row].as_py()))
        self._check_items(block, items_col)
        self._check_repeats(block, ids)
        keep = pa.array(~block.skipped)
        for name, column in (("users", user_col), ("times", times), ("history", history_col), ("items", items_col)):
            self.parts[name].append(column.filter(keep))
        self.parts["ids"].append(ids[~block.skipped])
        return block.skipped

    def _check_items(self, block: _Block, items_col: pa.Array) -> None:
        """Skip impressions without candidates, and those whose labels are malformed or (un)labeled unlike the file."""
        n = len(block.numbers)
        candidate_ptr, tokens = _split_tokens(items_col)
        counts = np.diff(candidate_ptr)
        token_rows = np.repeat(np.arange(n), counts)
        labeled_token = pc.match_substring_regex(tokens, r"^\S+-[01]$").to_numpy(zero_copy_only=False)
        dashed_token = pc.match_substring(tokens, "-").to_numpy(zero_copy_only=False)
        labeled_rows = np.bincount(token_rows, weights=labeled_token, minlength=n).astype(np.int64)
        dashed_rows = np.bincount(token_rows, weights=dashed_token, minlength=n).astype(np.int64)
        ok = ~block.skipped
        labeled = self.labeled if self.labeled is not None else bool(labeled_rows[ok].sum())
        if self.labeled is None and (ok & (counts > 0)).any():
            self.labeled = labeled
        no_candidates = np.flatnonzero(ok & (counts == 0))
        block.drop("no_candidates", no_candidates, lambda _: "impression has no candidate articles")
        mixed = ok & (counts > 0) & ((labeled_rows != counts) if labeled else (dashed_rows > 0))

        def reason(row: int) -> str:
            row_tokens = tokens[candidate_ptr[row] : candidate_ptr[row + 1]].to_pylist()
            found = next(filter(None, map(_label_problem, row_tokens)), None)
            return found or ("impression items lack labels (-0/-1) that the rest of the file has" if labeled
                             else "impression items have labels that the rest of the file lacks")

        block.drop("bad_label", np.flatnonzero(mixed), reason)

    def _check_repeats(self, block: _Block, ids: np.ndarray) -> None:
        """Skip valid rows whose impression id a kept row already has; then remember this block's kept ids."""
        valid = np.flatnonzero(~block.skipped)
        new = ids[valid]
        at = np.minimum(np.searchsorted(self.seen_ids, new), max(len(self.seen_ids) - 1, 0))
        earlier = self.seen_ids[at] == new if len(self.seen_ids) else np.zeros(len(new), dtype=bool)
        repeated = valid[earlier | pd.Series(new).duplicated().to_numpy()]
        # Messages are made after this block's ids are remembered, so the first line is always found there.
        block.drop("duplicate_impression", repeated, lambda row: (
            f"impression id {ids[row]} repeats (first at line {self._first_line(ids[row])})"))
        kept = np.flatnonzero(~block.skipped)
        order = np.argsort(ids[kept], kind="stable")
        at = np.searchsorted(self.seen_ids, ids[kept][order])
        self.seen_ids = np.insert(self.seen_ids, at, ids[kept][order])
        self.seen_lines = np.insert(self.seen_lines, at, block.numbers[kept][order])

    def _first_line(self, impression_id: int) -> int:
        return int(self.seen_lines[np.searchsorted(self.seen_ids, impression_id)])

    def behaviors(self) -> Behaviors:
        times = _concat(self.parts["times"], pa.timestamp("s")).to_numpy(zero_copy_only=False)
        users = pc.dictionary_encode(_concat(self.parts["users"]))
        candidate_ptr, tokens = _split_tokens(_concat(self.parts["items"]))
        if self.labeled:
            candidate_tokens = pc.utf8_slice_codeunits(tokens, 0, -2)
            labels = pc.equal(pc.utf8_slice_codeunits(tokens, -1), "1").to_numpy(zero_copy_only=False).astype(np.int8)
        else:
            candidate_tokens = tokens
            labels = np.full(len(tokens), UNLABELED, dtype=np.int8)
        history_ptr, history_tokens = _split_tokens(_concat(self.parts["history"]))
        encoded = pc.dictionary_encode(pa.concat_arrays([history_tokens, candidate_tokens]))
        codes = encoded.indices.to_numpy().astype(np.int32)
        return Behaviors(
            impression_ids=np.concatenate(self.parts["ids"]),
            user_index=users.indices.to_numpy().astype(np.int32),
            users=_strings(users.dictionary),
            times=times.astype("datetime64[s]"),
            history_ptr=history_ptr,
            history=codes[: len(history_tokens)],
            candidate_ptr=candidate_ptr,
            candidates=codes[len(history_tokens) :],
            labels=labels,
            articles=_strings(encoded.dictionary),
        )


def read_behaviors(path: str | Path, report: LoadReport | None = None) -> Behaviors:
    """Read a MIND ``behaviors.tsv``; bad rows are skipped and counted in ``report`` (or raise when strict)."""
    reader = _LineReader(Path(path), report or LoadReport(), BEHAVIOR_COLUMNS, BEHAVIORS_LAYOUT)
    rows = _BehaviorRows(reader.problems)
    problems = reader.read(rows.take)
    if not len(rows.seen_ids):
        problems.no_valid_rows("impression rows")
    return rows.behaviors()


def write_behaviors(path: str | Path, behaviors: Behaviors) -> None:
    """Write ``behaviors.tsv`` atomically in MIND's layout."""
    b = behaviors
    time_strings = format_times(b.times)
    user_ids = b.impression_user_ids
    lines = []
    for i in range(len(b)):
        history = " ".join(b.articles[b.history[b.history_ptr[i] : b.history_ptr[i + 1]]])
        start, end = b.candidate_ptr[i], b.candidate_ptr[i + 1]
        ids = b.articles[b.candidates[start:end]]
        labels = b.labels[start:end]
        items = " ".join(ids if b.labels[start] < 0 else [f"{a}-{y}" for a, y in zip(ids, labels)])
        lines.append(f"{b.impression_ids[i]}\t{user_ids[i]}\t{time_strings[i]}\t{history}\t{items}\n")
    atomic.write_text(path, "".join(lines))


# --------------------------------------------------------------------------- entity vectors


@dataclass
class EntityVectors:
    """Knowledge-graph entity vectors: ``matrix[i]`` belongs to ``ids[i]``."""

    ids: list[str]
    matrix: np.ndarray  # (n, dim) float32

    @cached_property
    def position(self) -> dict[str, int]:
        return {e: i for i, e in enumerate(self.ids)}

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @classmethod
    def concat(cls, parts: list["EntityVectors"]) -> "EntityVectors | None":
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        ids: list[str] = []
        rows: list[np.ndarray] = []
        seen: set[str] = set()
        for p in parts:
            keep = [i for i, e in enumerate(p.ids) if e not in seen]
            seen.update(p.ids[i] for i in keep)
            ids.extend(p.ids[i] for i in keep)
            rows.append(p.matrix[keep])
        return cls(ids, np.concatenate(rows).astype(np.float32, copy=False))


class _VectorRows:
    """read_entity_vectors's check of each block: keeps the valid vectors, each entity once."""

    def __init__(self, problems: _Problems, dim: int):
        self.problems, self.dim = problems, dim
        self.ids: list[str] = []
        self.seen: set[str] = set()
        self.matrices: list[np.ndarray] = []

    def take(self, columns: list[pa.Array], numbers: np.ndarray) -> np.ndarray:
        block = _Block(self.problems, numbers)
        ids = _strings(pc.utf8_trim_whitespace(columns[0]))
        matrix, bad_number = self._numbers(columns[1:])
        block.drop("bad_number", np.flatnonzero(bad_number), lambda row: f"entity {ids[row]}: a value is not a number")
        not_finite = ~np.isfinite(matrix).all(axis=1) & ~block.skipped
        block.drop("not_finite", np.flatnonzero(not_finite), lambda row: (
            f"entity {ids[row]}: vector contains NaN or Inf"))
        repeated = []
        for row in np.flatnonzero(~block.skipped):  # only among valid rows
            if ids[row] in self.seen:
                repeated.append(row)
            self.seen.add(ids[row])
        block.drop("duplicate_entity", repeated, lambda row: f"entity {ids[row]} appears twice")
        keep = ~block.skipped
        self.ids += ids[keep].tolist()
        self.matrices.append(matrix[keep].astype(np.float32))
        return block.skipped

    def _numbers(self, columns: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
        """The values as a (rows, dim) matrix, and the mask of rows with a value that is not a number."""
        try:
            matrix = np.stack([pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False) for col in columns], axis=1)
            return matrix, np.zeros(len(matrix), dtype=bool)
        except (pa.ArrowInvalid, ValueError):
            pass
        rows = list(zip(*(column.to_pylist() for column in columns)))
        matrix = np.zeros((len(rows), self.dim))
        bad = np.zeros(len(rows), dtype=bool)
        for row, texts in enumerate(rows):
            try:
                matrix[row] = [float(text) for text in texts]
            except ValueError:
                bad[row] = True
        return matrix, bad


def read_entity_vectors(path: str | Path, report: LoadReport | None = None, dim: int = ENTITY_DIM) -> EntityVectors:
    """Read ``entity_embedding.vec`` (WikidataId, then ``dim`` tab-separated floats per line)."""
    # Published files may end lines with a tab: trailing whitespace is not a column.
    layout = f"entity_embedding.vec has {dim + 1} (an entity id and {dim} values)"
    reader = _LineReader(Path(path), report or LoadReport(), dim + 1, layout, what=f" (an entity id and {dim} values)",
                         rstrip=True)
    rows = _VectorRows(reader.problems, dim)
    problems = reader.read(rows.take)
    if not rows.ids:
        problems.no_valid_rows("entity vectors")
    return EntityVectors(rows.ids, np.concatenate(rows.matrices))


def write_entity_vectors(path: str | Path, vectors: EntityVectors) -> None:
    body = "".join(
        entity + "\t" + "\t".join(f"{v:.6f}" for v in row) + "\n" for entity, row in zip(vectors.ids, vectors.matrix)
    )
    atomic.write_text(path, body)


# --------------------------------------------------------------------------- splits and datasets


@dataclass
class MindSplit:
    """One split folder: its articles, impressions and (optional) entity vectors."""

    name: str
    path: Path
    news: News
    behaviors: Behaviors
    entity_vectors: EntityVectors | None = None

    def missing_article_ids(self) -> np.ndarray:
        """Distinct article ids referenced by behaviours but absent from ``news.tsv``."""
        known = self.news.position
        return np.array([a for a in self.behaviors.articles if a not in known], dtype=object)

    def summary(self) -> dict:
        b = self.behaviors
        known = self.news.position
        article_known = np.fromiter((a in known for a in b.articles), dtype=bool, count=len(b.articles))
        labeled = b.labels >= 0
        clicks = int((b.labels == 1).sum())
        return {
            "articles": len(self.news),
            "users": len(b.users),
            "impressions": len(b),
            "candidates": int(len(b.candidates)),
            "clicks": clicks if labeled.any() else None,
            "click_rate": round(clicks / int(labeled.sum()), 6) if labeled.any() else None,
            "empty_histories": int((b.history_lengths == 0).sum()),
            "mean_history_length": round(float(b.history_lengths.mean()), 3) if len(b) else 0.0,
            "missing_article_ids": int((~article_known).sum()),
            "referenced_article_ids": int(len(b.articles)),
            "missing_history_refs": int((~article_known[b.history]).sum()),
            "missing_candidate_refs": int((~article_known[b.candidates]).sum()),
            "articles_without_entities": self.news.without_entities,
            "entity_vectors": len(self.entity_vectors.ids) if self.entity_vectors is not None else 0,
        }


def split_by_time(split: MindSplit, cutoff: np.datetime64) -> tuple[MindSplit, MindSplit]:
    """The impressions before ``cutoff`` and from it on, each with the articles it references
    (plus, for the later part, every article of the split not referenced earlier)."""
    before = np.flatnonzero(split.behaviors.times < cutoff)
    after = np.flatnonzero(split.behaviors.times >= cutoff)
    parts = []
    for name, rows in (("before", before), ("after", after)):
        behaviors = split.behaviors.select(rows).compact()
        referenced = set(behaviors.articles.tolist())
        if name == "after":
            earlier = set(parts[0].behaviors.articles.tolist())
            referenced |= {a for a in split.news.frame["news_id"] if a not in earlier}
        keep = split.news.frame["news_id"].isin(referenced).to_numpy()
        rows_kept = np.flatnonzero(keep)
        news = News(split.news.frame.iloc[rows_kept].reset_index(drop=True), [split.news.entities[i] for i in rows_kept],
                    split.news.entity_labels)
        parts.append(MindSplit(f"{split.name}-{name}", split.path, news, behaviors, split.entity_vectors))
    return parts[0], parts[1]


def read_split(folder: str | Path, name: str | None = None, report: LoadReport | None = None) -> MindSplit:
    folder = Path(folder)
    report = report or LoadReport()
    if not folder.is_dir():
        raise InputError("not a folder" if folder.exists() else "folder does not exist", path=folder)
    news = read_news(folder / NEWS_FILE, report)
    behaviors = read_behaviors(folder / BEHAVIORS_FILE, report)
    vec_path = folder / ENTITY_FILE
    vectors = read_entity_vectors(vec_path, report) if vec_path.exists() else None
    return MindSplit(name or folder.name, folder, news, behaviors, vectors)


def write_split(folder: str | Path, split: MindSplit) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_news(folder / NEWS_FILE, split.news)
    write_behaviors(folder / BEHAVIORS_FILE, split.behaviors)
    if split.entity_vectors is not None:
        write_entity_vectors(folder / ENTITY_FILE, split.entity_vectors)


class _TruthRows:
    """read_truth's check of each block (under strict: the generator writes this file, so any bad line is an error)."""

    def __init__(self, problems: _Problems):
        self.problems = problems
        self.frames: list[pd.DataFrame] = []

    def take(self, columns: list[pa.Array], numbers: np.ndarray) -> np.ndarray:
        impressions, news, probabilities = columns
        block = _Block(self.problems, numbers)
        bad_id = ~pc.match_substring_regex(impressions, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
        block.drop("bad_impression_id", np.flatnonzero(bad_id),
                   lambda row: f"impression id {impressions[row].as_py()!r} is not a whole number")
        values = pd.to_numeric(pd.Series(_strings(probabilities)), errors="coerce").to_numpy(dtype=np.float64)
        bad = ~((values >= 0) & (values <= 1)) & ~block.skipped  # NaN compares False: bad too
        block.drop("bad_probability", np.flatnonzero(bad), lambda _: "probability must be a number in [0, 1]")
        keep = ~block.skipped
        ids = pc.cast(impressions.filter(pa.array(keep)), pa.int64()).to_numpy()
        self.frames.append(pd.DataFrame(
            {"impression_id": ids, "news_id": pd.Series(_strings(news)[keep], dtype=object), "probability": values[keep]}
        ))
        return block.skipped


def read_truth(path: str | Path) -> pd.DataFrame:
    """``truth.tsv`` of a synthetic dataset: impression id, news id, true click probability per dev candidate."""
    reader = _LineReader(Path(path), LoadReport(strict=True), 3, "truth.tsv has 3 (impression id, news id, probability)")
    rows = _TruthRows(reader.problems)
    reader.read(rows.take)
    return pd.concat(rows.frames, ignore_index=True)


@dataclass
class MindDataset:
    """A dataset folder: ``train/`` and usually ``dev/`` (plus ``dev/truth.tsv`` and ``meta.json`` when synthetic)."""

    root: Path
    splits: dict[str, MindSplit]
    report: LoadReport
    truth: pd.DataFrame | None = None
    meta: dict | None = None

    @property
    def train(self) -> MindSplit:
        return self.splits["train"]

    @property
    def dev(self) -> MindSplit | None:
        return self.splits.get("dev")

    @cached_property
    def news(self) -> News:
        """All articles of all splits, each once (train first)."""
        return News.concat([s.news for s in self.splits.values()])

    @cached_property
    def entity_vectors(self) -> EntityVectors | None:
        return EntityVectors.concat([s.entity_vectors for s in self.splits.values()])

    def summary(self) -> dict:
        per_split = {name: split.summary() for name, split in self.splits.items()}
        return {
            "root": str(self.root),
            "splits": per_split,
            "articles": len(self.news),
            "users": len(set().union(*(set(s.behaviors.users) for s in self.splits.values()))),
            "impressions": sum(s["impressions"] for s in per_split.values()),
            "has_truth": self.truth is not None,
            **self.report.summary(),
            "warnings": list(self.report.messages),
        }


def load_dataset(root: str | Path, *, strict: bool = False) -> MindDataset:
    """Load a MIND dataset folder (``train/``, ``dev/``, ``test/``) or a bare split folder (read as ``train``).

    Bad rows are skipped and counted (``dataset.report``); ``strict=True`` makes the first one an
    :class:`~recengine.errors.InputError` instead. Missing files are always errors.
    """
    root = Path(root)
    if not root.exists():
        raise InputError("dataset folder does not exist", path=root)
    if not root.is_dir():
        raise InputError("is a file; expected a dataset folder", path=root)
    report = LoadReport(strict=strict)
    split_dirs = {name: root / name for name in (*SPLITS, "test") if (root / name).is_dir()}
    if split_dirs:
        if "train" not in split_dirs:
            raise InputError("dataset folder has no train/ split", path=root)
        splits = {name: read_split(folder, name, report) for name, folder in split_dirs.items()}
    elif (root / NEWS_FILE).exists() or (root / BEHAVIORS_FILE).exists():
        splits = {"train": read_split(root, "train", report)}
    else:
        raise InputError(f"not a MIND folder: expected train/ and dev/, or {NEWS_FILE} and {BEHAVIORS_FILE}", path=root)
    _check_cross_split_articles(splits, report)
    truth_path = root / "dev" / TRUTH_FILE
    truth = read_truth(truth_path) if truth_path.exists() else None
    meta_path = root / META_FILE
    meta = None
    if meta_path.exists():
        with open(meta_path, "rb") as handle:  # at most the limit and a byte: the file may be endless
            raw = handle.read(MAX_META_BYTES + 1)
        if len(raw) > MAX_META_BYTES:
            raise InputError(f"over {_size(MAX_META_BYTES)}; a dataset's meta.json is a few kB", path=meta_path)
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({exc})", path=meta_path) from None
    return MindDataset(root, splits, report, truth, meta)


def _check_cross_split_articles(splits: dict[str, MindSplit], report: LoadReport) -> None:
    """MIND repeats articles across splits; the same id with different content is a problem."""
    names = list(splits)
    for i, later in enumerate(names[1:], start=1):
        later_frame = splits[later].news.frame.set_index("news_id")
        for earlier in names[:i]:
            earlier_frame = splits[earlier].news.frame.set_index("news_id")
            common = later_frame.index.intersection(earlier_frame.index)
            if common.empty:
                continue
            differs = (later_frame.loc[common] != earlier_frame.loc[common]).any(axis=1)
            for news_id in common[differs.to_numpy()][:1000]:
                report.problem(
                    "duplicate_id",
                    f"article {news_id} differs from the one in {splits[earlier].path / NEWS_FILE} (the first is kept)",
                    path=splits[later].path / NEWS_FILE,
                )


def write_dataset(root: str | Path, dataset: MindDataset) -> None:
    root = Path(root)
    for name, split in dataset.splits.items():
        write_split(root / name, split)
