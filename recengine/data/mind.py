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
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

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
UNLABELED = -1


# --------------------------------------------------------------------------- lines


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("missing file", path=path)
    if path.is_dir():
        raise InputError("is a directory where a file was expected", path=path)


def _read_lines(path: Path, report: LoadReport) -> tuple[list[str], list[int]]:
    """Decode ``path`` as UTF-8 and split it into lines; returns the kept lines and their 1-based numbers.

    Lines with non-UTF-8 bytes or over :data:`MAX_LINE_BYTES` are problems (skipped, or raised when strict).
    """
    _check_file(path)
    data = path.read_bytes()
    if not data.strip():
        raise InputError("file is empty", path=path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    try:
        text = data.decode("utf-8")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        decoded: list[str | None] = lines  # type: ignore[assignment]
    except UnicodeDecodeError:
        decoded = []
        for number, raw in enumerate(raw_lines, start=1):
            try:
                decoded.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                report.problem(
                    "not_utf8",
                    f"bytes that are not UTF-8 (0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)",
                    path=path,
                    line=number,
                )
                decoded.append(None)
    kept: list[str] = []
    numbers: list[int] = []
    too_long = max(map(len, raw_lines), default=0) > MAX_LINE_BYTES
    for number, line in enumerate(decoded, start=1):
        if line is None:
            continue
        if too_long and len(raw_lines[number - 1]) > MAX_LINE_BYTES:
            report.problem(
                "line_too_long",
                f"line is {len(raw_lines[number - 1]):,} bytes long; the limit is {MAX_LINE_BYTES:,}",
                path=path,
                line=number,
            )
            continue
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            report.problem("blank_line", "blank line", path=path, line=number)
            continue
        kept.append(line)
        numbers.append(number)
    if not kept:
        raise InputError("no readable rows", path=path)
    return kept, numbers


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
    lines, numbers = _read_lines(path, report)
    rows: list[list[str]] = []
    entities: list[tuple[str, ...]] = []
    labels: dict[str, str] = {}
    seen: dict[str, tuple[int, int]] = {}  # news_id -> (row, line)
    for line, number in zip(lines, numbers):
        parts = line.split("\t")
        if len(parts) != len(NEWS_COLUMNS):
            report.problem(
                "wrong_columns",
                f"expected {len(NEWS_COLUMNS)} tab-separated columns, found {len(parts)}",
                path=path,
                line=number,
            )
            continue
        news_id = parts[0]
        if not news_id or news_id != news_id.strip() or " " in news_id:
            report.problem("bad_id", f"bad news id {news_id!r}", path=path, line=number)
            continue
        if not parts[3].strip():
            report.problem("empty_title", f"article {news_id} has an empty title", path=path, line=number)
            continue
        try:
            items = parse_entities(parts[6]) + parse_entities(parts[7])
        except ValueError as exc:
            report.problem("bad_entities", f"article {news_id}: {exc}", path=path, line=number)
            continue
        if news_id in seen:
            first_row, first_line = seen[news_id]
            if rows[first_row] != parts:
                report.problem(
                    "duplicate_id",
                    f"article {news_id} appears again with different content (first at line {first_line})",
                    path=path,
                    line=number,
                )
            continue
        ids: list[str] = []
        for item in items:
            wid = item["WikidataId"]
            if wid not in ids:
                ids.append(wid)
            label = item.get("Label")
            if isinstance(label, str) and label:
                labels.setdefault(wid, label)
        seen[news_id] = (len(rows), number)
        rows.append(parts)
        entities.append(tuple(ids))
    if not rows:
        raise InputError("no valid article rows", path=path)
    frame = pd.DataFrame(rows, columns=list(NEWS_COLUMNS), dtype=object)
    return News(frame, entities, labels)


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
        h_ptr, h_idx = _gather_ranges(self.history_ptr, rows)
        c_ptr, c_idx = _gather_ranges(self.candidate_ptr, rows)
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


def _gather_ranges(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR offsets ``ptr``, the new offsets and flat indices of ``rows``' ranges, concatenated."""
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    flat = np.arange(new_ptr[-1], dtype=np.int64) - np.repeat(new_ptr[:-1] - starts, lengths)
    return new_ptr, flat


def _tokens_csr(strings: list[str]) -> tuple[np.ndarray, list[str]]:
    """Split space-separated strings; returns CSR offsets (n+1,) and the flat tokens.

    Equal strings are split once: in real MIND a user's history repeats on every impression row.
    """
    codes, uniques = pd.factorize(pd.Series(strings, dtype=object), sort=False)
    unique_tokens = [s.split() for s in uniques]
    unique_lengths = np.fromiter((len(t) for t in unique_tokens), dtype=np.int64, count=len(unique_tokens))
    unique_ptr = np.zeros(len(unique_tokens) + 1, dtype=np.int64)
    np.cumsum(unique_lengths, out=unique_ptr[1:])
    flat_unique = [tok for toks in unique_tokens for tok in toks]
    ptr, gather = _gather_ranges(unique_ptr, codes.astype(np.int64))
    flat = np.asarray(flat_unique, dtype=object)[gather] if len(gather) else np.empty(0, dtype=object)
    return ptr, flat.tolist()


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
    lines, numbers = _read_lines(path, report)
    impression_ids: list[int] = []
    users: list[str] = []
    times: list[str] = []
    histories: list[str] = []
    impressions: list[list[str]] = []
    kept_numbers: list[int] = []
    seen_impressions: dict[int, int] = {}
    for line, number in zip(lines, numbers):
        parts = line.split("\t")
        if len(parts) != BEHAVIOR_COLUMNS:
            report.problem(
                "wrong_columns",
                f"expected {BEHAVIOR_COLUMNS} tab-separated columns, found {len(parts)}",
                path=path,
                line=number,
            )
            continue
        imp, user, time, history, items = parts
        if not imp.isascii() or not imp.isdigit():
            report.problem("bad_impression_id", f"impression id {imp!r} is not a whole number", path=path, line=number)
            continue
        imp_id = int(imp)
        if imp_id in seen_impressions:
            report.problem(
                "duplicate_impression",
                f"impression id {imp_id} repeats (first at line {seen_impressions[imp_id]})",
                path=path,
                line=number,
            )
            continue
        if not user or " " in user:
            report.problem("bad_user", f"bad user id {user!r}", path=path, line=number)
            continue
        tokens = items.split()
        if not tokens:
            report.problem("no_candidates", "impression has no candidate articles", path=path, line=number)
            continue
        # Fast path: a well-formed labeled token ends in "-0" or "-1".
        if not all(t[-2:] in ("-0", "-1") and len(t) > 2 for t in tokens):
            reason = next((r for r in map(_label_problem, tokens) if r), None)
            if reason is None and len({"-" in t for t in tokens}) > 1:
                reason = "impression mixes labeled and unlabeled items"
            if reason:
                report.problem("bad_label", reason, path=path, line=number)
                continue
        seen_impressions[imp_id] = number
        impression_ids.append(imp_id)
        users.append(user)
        times.append(time)
        histories.append(history)
        impressions.append(tokens)
        kept_numbers.append(number)

    parsed_times = parse_times(times)
    bad_time = np.isnat(parsed_times)
    if bad_time.any():
        for row in np.flatnonzero(bad_time):
            report.problem(
                "bad_time",
                f"bad time {times[row]!r} (expected like '11/12/2019 2:14:46 PM')",
                path=path,
                line=kept_numbers[row],
            )
        keep = ~bad_time
        impression_ids = [v for v, k in zip(impression_ids, keep) if k]
        users = [v for v, k in zip(users, keep) if k]
        histories = [v for v, k in zip(histories, keep) if k]
        impressions = [v for v, k in zip(impressions, keep) if k]
        parsed_times = parsed_times[keep]
    if not impression_ids:
        raise InputError("no valid impression rows", path=path)

    history_ptr, history_tokens = _tokens_csr(histories)
    candidate_counts = np.fromiter((len(t) for t in impressions), dtype=np.int64, count=len(impressions))
    candidate_ptr = np.zeros(len(impressions) + 1, dtype=np.int64)
    np.cumsum(candidate_counts, out=candidate_ptr[1:])
    flat_items = [tok for toks in impressions for tok in toks]
    labeled = flat_items[0][-2:] in ("-0", "-1")
    if labeled:
        candidate_tokens = [tok[:-2] for tok in flat_items]
        labels = np.fromiter((tok[-1] == "1" for tok in flat_items), dtype=np.int8, count=len(flat_items))
    else:
        candidate_tokens = flat_items
        labels = np.full(len(flat_items), UNLABELED, dtype=np.int8)
    codes, articles = pd.factorize(pd.Series(history_tokens + candidate_tokens, dtype=object), sort=False)
    user_codes, user_vocab = pd.factorize(pd.Series(users, dtype=object), sort=False)
    return Behaviors(
        impression_ids=np.asarray(impression_ids, dtype=np.int64),
        user_index=user_codes.astype(np.int32),
        users=np.asarray(user_vocab, dtype=object),
        times=parsed_times,
        history_ptr=history_ptr,
        history=codes[: len(history_tokens)].astype(np.int32),
        candidate_ptr=candidate_ptr,
        candidates=codes[len(history_tokens) :].astype(np.int32),
        labels=labels,
        articles=np.asarray(articles, dtype=object),
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
    lines, numbers = _read_lines(path, report)
    ids: list[str] = []
    rows: list[list[float]] = []
    seen: set[str] = set()
    for line, number in zip(lines, numbers):
        parts = line.rstrip().split("\t")
        width = len(parts) - 1
        if width != dim:
            report.problem("wrong_width", f"entity vector has {width} values, expected {dim}", path=path, line=number)
            continue
        entity = parts[0].strip()
        try:
            values = [float(v) for v in parts[1:]]
        except ValueError:
            report.problem("bad_number", f"entity {entity}: a value is not a number", path=path, line=number)
            continue
        if not all(math.isfinite(v) for v in values):
            report.problem("not_finite", f"entity {entity}: vector contains NaN or Inf", path=path, line=number)
            continue
        if entity in seen:
            report.problem("duplicate_entity", f"entity {entity} appears twice", path=path, line=number)
            continue
        seen.add(entity)
        ids.append(entity)
        rows.append(values)
    if not rows:
        raise InputError("no valid entity vectors", path=path)
    return EntityVectors(ids, np.asarray(rows, dtype=np.float32))


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
            "mean_history_length": round(float(b.history_lengths.mean()), 3),
            "missing_article_ids": int((~article_known).sum()),
            "referenced_article_ids": int(len(b.articles)),
            "missing_history_refs": int((~article_known[b.history]).sum()),
            "missing_candidate_refs": int((~article_known[b.candidates]).sum()),
            "articles_without_entities": self.news.without_entities,
            "entity_vectors": len(self.entity_vectors.ids) if self.entity_vectors is not None else 0,
        }


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
