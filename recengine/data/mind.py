"""Read and write MIND folders exactly as published.

A split folder holds ``news.tsv`` (8 columns), ``behaviors.tsv`` (5 columns) and
optionally ``entity_embedding.vec`` (WikidataId + 100 floats). A dataset folder
holds ``train/`` and ``dev/`` splits (MIND's own layout); a bare split folder such
as ``../shared/data/mind_sample`` reads too.

Behaviours are held column-wise with integer codes (no Python object per click),
so MIND-small's 230k impressions load in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recengine import atomic
from recengine.data.report import LoadReport
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
BEHAVIOR_COLUMNS = 5
ENTITY_DIM = 100
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
# Real MIND lines stay under 20 kB; anything this long is corrupt input, not data.
MAX_LINE_BYTES = 1 << 20
# Files are read in blocks of this size, so an over-long line is measured, never held in memory.
READ_BLOCK_BYTES = 16 << 20
BOM = b"\xef\xbb\xbf"
UNLABELED = -1


# --------------------------------------------------------------------------- lines


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("missing file", path=path)
    if path.is_dir():
        raise InputError("is a directory where a file was expected", path=path)


class _Problems:
    """Problems of one file, flushed to the report in line order (so ``strict`` names the first bad line)."""

    def __init__(self, path: Path, report: LoadReport):
        self.path, self.report, self.items = path, report, []

    def add(self, line: int, kind: str, message: str) -> None:
        self.items.append((line, kind, message))

    def flush(self) -> None:
        for line, kind, message in sorted(self.items, key=lambda item: item[0]):
            self.report.problem(kind, message, path=self.path, line=line)
        self.items = []


def _raw_lines(path: Path) -> tuple[list[bytes], np.ndarray]:
    """The file's lines (without the line end; a leading byte-order mark dropped) and their lengths in bytes.

    Read in blocks of READ_BLOCK_BYTES: a line that grows past MAX_LINE_BYTES across blocks is only measured,
    and comes back as b"" with its true length, so a corrupt file with a gigabyte-long line costs a block of
    memory, not the line (twice). Lines within one block come back whole; the caller checks their lengths.
    """
    lines: list[bytes] = []
    measured: dict[int, int] = {}  # line index -> length, for lines dropped while they were being read
    pending: list[bytes] = []  # the start of a line that continues into the next block
    pending_size = 0
    with open(path, "rb") as handle:
        while block := handle.read(READ_BLOCK_BYTES):
            *complete, rest = block.split(b"\n")
            if complete:
                size = pending_size + len(complete[0])
                if size > MAX_LINE_BYTES:
                    measured[len(lines)] = size
                    lines.append(b"")
                else:
                    lines.append(b"".join(pending) + complete[0] if pending else complete[0])
                lines.extend(complete[1:])
                pending, pending_size = [], 0
            pending_size += len(rest)
            if pending_size <= MAX_LINE_BYTES:
                pending.append(rest)
            else:
                pending = []
    if pending_size:
        if pending_size > MAX_LINE_BYTES:
            measured[len(lines)] = pending_size
            lines.append(b"")
        else:
            lines.append(b"".join(pending))
    if lines and lines[0].startswith(BOM):
        lines[0] = lines[0][len(BOM) :]
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
    for row, size in measured.items():
        lengths[row] = size
    return lines, lengths


def _read_rows(
    path: Path, report: LoadReport, n_columns: int, *, what: str = "", rstrip: bool = False
) -> tuple[list[pa.Array], np.ndarray, _Problems]:
    """Decode ``path`` as UTF-8 and split it into tab-separated columns.

    Returns the columns of the well-formed rows (Arrow string arrays), their 1-based line numbers and the
    file's problem list (undecodable, over-long, blank or wrong-width lines are already in it; the caller
    adds its own and flushes). ``what`` describes the expected columns in messages; ``rstrip`` drops
    trailing whitespace first. Row handling runs in Arrow kernels: no Python object per field.
    """
    _check_file(path)
    raw_lines, lengths = _raw_lines(path)
    if not (lengths > MAX_LINE_BYTES).any() and not any(line.strip() for line in raw_lines):
        raise InputError("file is empty", path=path)
    problems = _Problems(path, report)
    for row in np.flatnonzero(lengths > MAX_LINE_BYTES):
        problems.add(int(row) + 1, "line_too_long", f"line is {lengths[row]:,} bytes long; the limit is {MAX_LINE_BYTES:,}")
        raw_lines[row] = b""
    lines: list[str | None] = []
    try:
        lines = b"\n".join(raw_lines).decode("utf-8").split("\n")
    except UnicodeDecodeError:
        for number, raw in enumerate(raw_lines, start=1):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                problems.add(number, "not_utf8", f"bytes that are not UTF-8 (0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)")
                lines.append(None)
    del raw_lines
    array = pa.array(lines, type=pa.string())
    del lines
    if rstrip:
        array = pc.utf8_rtrim_whitespace(array)
    elif pc.any(pc.ends_with(array, "\r")).as_py():
        array = pc.replace_substring_regex(array, "\r$", "")
    numbers = np.arange(1, len(array) + 1)
    readable = ~(array.is_null().to_numpy(zero_copy_only=False) | (lengths > MAX_LINE_BYTES))
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(array), ""), False).to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(blank & readable):
        problems.add(int(row) + 1, "blank_line", "blank line")
    parts = pc.split_pattern(array, "\t")
    widths = pc.fill_null(pc.list_value_length(parts), 0).to_numpy(zero_copy_only=False)
    wrong = readable & ~blank & (widths != n_columns)
    for row in np.flatnonzero(wrong):
        problems.add(int(row) + 1, "wrong_columns", f"expected {n_columns} tab-separated columns{what}, found {widths[row]}")
    keep = readable & ~blank & ~wrong
    if not keep.any():
        problems.flush()
        raise InputError("no readable rows", path=path)
    parts = parts.filter(pa.array(keep))
    columns = [pc.list_element(parts, i) for i in range(n_columns)]
    return columns, numbers[keep], problems


def _strings(column: pa.Array) -> np.ndarray:
    """An Arrow string column as a numpy object array."""
    return column.to_numpy(zero_copy_only=False).astype(object, copy=False)


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


def read_news(path: str | Path, report: LoadReport | None = None) -> News:
    """Read a MIND ``news.tsv``; bad rows are skipped and counted in ``report`` (or raise when strict)."""
    path = Path(path)
    report = report or LoadReport()
    columns, numbers, problems = _read_rows(path, report, len(NEWS_COLUMNS))
    values = {name: _strings(col) for name, col in zip(NEWS_COLUMNS, columns)}
    ids = values["news_id"]
    ok = pc.match_substring_regex(columns[0], r"^\S+$").to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(~ok):
        problems.add(numbers[row], "bad_id", f"bad news id {ids[row]!r}")
    empty_title = pc.equal(pc.utf8_trim_whitespace(columns[3]), "").to_numpy(zero_copy_only=False) & ok
    for row in np.flatnonzero(empty_title):
        problems.add(numbers[row], "empty_title", f"article {ids[row]} has an empty title")
    ok &= ~empty_title

    # Entity columns repeat a lot ("[]" above all): parse each distinct string once.
    parsed: dict[str, list[dict] | str] = {}
    entities: list[tuple[str, ...]] = []
    labels: dict[str, str] = {}
    for row, (title_raw, abstract_raw) in enumerate(zip(values["title_entities"], values["abstract_entities"])):
        if not ok[row]:
            entities.append(())
            continue
        items: list[dict] = []
        for raw in (title_raw, abstract_raw):
            if raw not in parsed:
                try:
                    parsed[raw] = parse_entities(raw)
                except ValueError as exc:
                    parsed[raw] = str(exc)
            result = parsed[raw]
            if isinstance(result, str):
                problems.add(numbers[row], "bad_entities", f"article {ids[row]}: {result}")
                ok[row] = False
                break
            items.extend(result)
        ids_in_row: dict[str, None] = {}
        for item in items:
            wid = item["WikidataId"]
            ids_in_row[wid] = None
            label = item.get("Label")
            if isinstance(label, str) and label:
                labels.setdefault(wid, label)
        entities.append(tuple(ids_in_row))

    frame = pd.DataFrame({name: values[name] for name in NEWS_COLUMNS}, dtype=object)
    # Only among valid rows: a valid row must not be dropped as a repeat of an invalid (skipped) one.
    duplicated = frame["news_id"].where(ok).duplicated().to_numpy() & ok
    if duplicated.any():
        first_row = {}
        for row in np.flatnonzero(ok):
            first_row.setdefault(ids[row], row)
        for row in np.flatnonzero(duplicated):
            first = first_row[ids[row]]
            if first != row and not frame.iloc[row].equals(frame.iloc[first]):
                problems.add(
                    numbers[row],
                    "duplicate_id",
                    f"article {ids[row]} appears again with different content (first at line {numbers[first]})",
                )
        ok &= ~duplicated
    problems.flush()
    if not ok.any():
        raise InputError("no valid article rows", path=path)
    keep = np.flatnonzero(ok)
    return News(frame.iloc[keep].reset_index(drop=True), [entities[i] for i in keep], labels)


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


def read_behaviors(path: str | Path, report: LoadReport | None = None) -> Behaviors:
    """Read a MIND ``behaviors.tsv``; bad rows are skipped and counted in ``report`` (or raise when strict)."""
    path = Path(path)
    report = report or LoadReport()
    (imp_col, user_col, time_col, history_col, items_col), numbers, problems = _read_rows(path, report, BEHAVIOR_COLUMNS)
    n = len(numbers)

    ok = pc.match_substring_regex(imp_col, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(~ok):
        problems.add(numbers[row], "bad_impression_id", f"impression id {imp_col[row].as_py()!r} is not a whole number")
    impression_ids = np.zeros(n, dtype=np.int64)
    impression_ids[ok] = pc.cast(imp_col.filter(pa.array(ok)), pa.int64()).to_numpy()
    repeated = pd.Series(np.where(ok, impression_ids, -1 - np.arange(n))).duplicated().to_numpy()
    if repeated.any():
        first_line = {}
        for row in np.flatnonzero(ok):
            first_line.setdefault(impression_ids[row], numbers[row])
        for row in np.flatnonzero(repeated):
            problems.add(
                numbers[row],
                "duplicate_impression",
                f"impression id {impression_ids[row]} repeats (first at line {first_line[impression_ids[row]]})",
            )
        ok &= ~repeated

    bad_user = ~pc.match_substring_regex(user_col, r"^\S+$").to_numpy(zero_copy_only=False) & ok
    for row in np.flatnonzero(bad_user):
        problems.add(numbers[row], "bad_user", f"bad user id {user_col[row].as_py()!r}")
    ok &= ~bad_user

    times = pc.strptime(time_col, format=TIME_FORMAT, unit="s", error_is_null=True)
    bad_time = times.is_null().to_numpy(zero_copy_only=False) & ok
    for row in np.flatnonzero(bad_time):
        problems.add(numbers[row], "bad_time", f"bad time {time_col[row].as_py()!r} (expected like '11/12/2019 2:14:46 PM')")
    ok &= ~bad_time

    candidate_ptr, tokens = _split_tokens(items_col)
    counts = np.diff(candidate_ptr)
    token_rows = np.repeat(np.arange(n), counts)
    labeled_token = pc.match_substring_regex(tokens, r"^\S+-[01]$").to_numpy(zero_copy_only=False)
    dashed_token = pc.match_substring(tokens, "-").to_numpy(zero_copy_only=False)
    labeled_rows = np.bincount(token_rows, weights=labeled_token, minlength=n).astype(np.int64)
    dashed_rows = np.bincount(token_rows, weights=dashed_token, minlength=n).astype(np.int64)
    labeled_file = bool(labeled_rows[ok].sum())
    bad_items = ok & ((counts == 0) | ((labeled_rows != counts) if labeled_file else (dashed_rows > 0)))
    for row in np.flatnonzero(bad_items):
        row_tokens = tokens[candidate_ptr[row] : candidate_ptr[row + 1]].to_pylist()
        if not row_tokens:
            problems.add(numbers[row], "no_candidates", "impression has no candidate articles")
            continue
        reason = next((r for r in map(_label_problem, row_tokens) if r), None)
        if reason is None:
            reason = "impression items lack labels (-0/-1) that the rest of the file has" if labeled_file else (
                "impression items have labels that the rest of the file lacks")
        problems.add(numbers[row], "bad_label", reason)
    ok &= ~bad_items
    problems.flush()
    if not ok.any():
        raise InputError("no valid impression rows", path=path)

    rows = np.flatnonzero(ok)
    candidate_ptr, candidate_index = gather_ranges(candidate_ptr, rows)
    tokens = tokens.take(pa.array(candidate_index))
    if labeled_file:
        candidate_tokens = pc.utf8_slice_codeunits(tokens, 0, -2)
        labels = pc.equal(pc.utf8_slice_codeunits(tokens, -1), "1").to_numpy(zero_copy_only=False).astype(np.int8)
    else:
        candidate_tokens = tokens
        labels = np.full(len(tokens), UNLABELED, dtype=np.int8)
    kept = pa.array(ok)
    history_ptr, history_tokens = _split_tokens(history_col.filter(kept))
    encoded = pc.dictionary_encode(pa.concat_arrays([history_tokens, candidate_tokens]))
    codes = encoded.indices.to_numpy().astype(np.int32)
    users = pc.dictionary_encode(user_col.filter(kept))
    return Behaviors(
        impression_ids=impression_ids[rows],
        user_index=users.indices.to_numpy().astype(np.int32),
        users=_strings(users.dictionary),
        times=times.filter(kept).to_numpy(zero_copy_only=False).astype("datetime64[s]"),
        history_ptr=history_ptr,
        history=codes[: len(history_tokens)],
        candidate_ptr=candidate_ptr,
        candidates=codes[len(history_tokens) :],
        labels=labels,
        articles=_strings(encoded.dictionary),
    )


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


def read_entity_vectors(path: str | Path, report: LoadReport | None = None, dim: int = ENTITY_DIM) -> EntityVectors:
    """Read ``entity_embedding.vec`` (WikidataId, then ``dim`` tab-separated floats per line)."""
    path = Path(path)
    report = report or LoadReport()
    # Published files may end lines with a tab: trailing whitespace is not a column.
    columns, numbers, problems = _read_rows(path, report, dim + 1, what=f" (an entity id and {dim} values)", rstrip=True)
    ids = _strings(pc.utf8_trim_whitespace(columns[0]))
    try:
        matrix = np.stack([pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False) for col in columns[1:]], axis=1)
        number_ok = np.ones(len(ids), dtype=bool)
    except (pa.ArrowInvalid, ValueError):
        matrix = np.zeros((len(ids), dim))
        number_ok = np.zeros(len(ids), dtype=bool)
        for row in range(len(ids)):
            try:
                matrix[row] = [float(col[row].as_py()) for col in columns[1:]]
                number_ok[row] = True
            except ValueError:
                problems.add(numbers[row], "bad_number", f"entity {ids[row]}: a value is not a number")
    finite = np.isfinite(matrix).all(axis=1)
    for row in np.flatnonzero(number_ok & ~finite):
        problems.add(numbers[row], "not_finite", f"entity {ids[row]}: vector contains NaN or Inf")
    ok = number_ok & finite
    repeated = pd.Series(ids).duplicated().to_numpy() & ok
    for row in np.flatnonzero(repeated):
        problems.add(numbers[row], "duplicate_entity", f"entity {ids[row]} appears twice")
    ok &= ~repeated
    problems.flush()
    if not ok.any():
        raise InputError("no valid entity vectors", path=path)
    return EntityVectors(ids[ok].tolist(), matrix[ok].astype(np.float32))


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


def read_truth(path: str | Path) -> pd.DataFrame:
    """``truth.tsv`` of a synthetic dataset: impression id, news id, true click probability per dev candidate."""
    path = Path(path)
    _check_file(path)
    frame = pd.read_csv(
        path, sep="\t", header=None, names=["impression_id", "news_id", "probability"], dtype={"news_id": object}
    )
    probs = pd.to_numeric(frame["probability"], errors="coerce")
    bad = probs.isna() | (probs < 0) | (probs > 1)
    if bad.any():
        raise InputError("probability must be a number in [0, 1]", path=path, line=int(np.flatnonzero(bad)[0]) + 1)
    frame["probability"] = probs.astype(np.float64)
    return frame


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
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
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
