"""Incremental updates: new clicks, articles and users folded into a copy of a trained run.

1. The parent run is loaded and never modified; the result is a new run that names it.
2. Guard: an article id the parent's catalogue already holds must come with the same content (title,
   category, subcategory, entities); otherwise the update is refused before any training, naming the first
   ids and what differs. ``allow_conflicts=True`` keeps the parent's version of those articles (their new
   content is skipped, their clicks are used) and counts them. User ids are not checked: MIND's user ids
   carry no content, so a user id in both is the same reader, whose new clicks extend their history.
3. The ID tables grow for unseen articles and users. New article rows start from the parent's fill for
   unseen articles (their nearest trained articles' ID vectors, or the mean).
4. Phase 1 trains only the new rows. Masking gradients is not enough under AdamW (weight decay and momentum
   still move old rows), so the ID tables use SparseAdam with no decay and a gradient hook that drops old
   rows: an old row is bit-for-bit unchanged.
   The text and graph views are frozen in this phase, so the graph encoder's output for the grown catalogue is
   computed once (without dropout, as it is served) and looked up by every batch.
5. Phase 2 (optional) trains everything at the parent's learning rate times ``lr_decay``.
6. The child and its parent are evaluated on the same data (``metrics`` and ``parent_metrics``), once, at the
   end: a pass is followed by a validation only when the parent's rule selects on a validation split (carved
   from the new data), never by one on the evaluation split. The parent's metrics are read from the parent
   instead of computed again when its training measured them on the same evaluation data: its dataset, checked
   by fingerprint, and the same impressions, candidates and labels (see :func:`recorded_parent_metrics`).

Identity by rows: an input is identified by a SHA-256 over the rows it would add, as parsed and sorted
(impressions: id, user, time, history, candidates with labels; articles: MIND's eight columns). The same
clicks with a README added, or moved under ``train/``, count as consumed; the archive is searched for it.

All or nothing: the child run and the archive entry (a copy of the input plus a manifest naming the child,
which is the consumed-input record) are staged under hidden names, then committed by renames that follow a
journal, ``<archive>/.update-<id>.json``. A journal left in state "staging" is rolled back, one in state
"commit" rolled forward, by the next update or by :func:`recover`. A failed update leaves no child and
consumes nothing. A lock on ``<archive>/.lock`` serialises the updates that share an archive.

The archive rule: only regular files are archived. A symbolic link, FIFO, socket or device in the input folder
is refused before any work, naming the first, except a dangling link named ``.#*`` (an editor's lock file, as
Emacs makes), which is skipped. The copy is taken right after the input is read, before training.
"""

from __future__ import annotations

import copy
import datetime as dt
import errno
import fcntl
import glob
import hashlib
import json
import os
import shutil
import stat
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from recengine import atomic
from recengine.config import RunConfig
from recengine.data.mind import NEWS_COLUMNS, NEWS_FILE, Behaviors, MindDataset, MindSplit, News, load_dataset
from recengine.data.store import timeout_s
from recengine.errors import InputError, RecengineError
from recengine.eval.evaluate import evaluate_interactions
from recengine.model.catalog import IdMap
from recengine.model.interactions import Interactions, attach_history_times, build_interactions, click_log
from recengine.model.network import RecommenderNet
from recengine.model.recommender import Recommender
from recengine.outputs import check_not_input, check_output_folder, check_writable, mkdir_checked
from recengine.text import get_embedder
from recengine.train.runs import (
    LoadedRun, SplitScores, load_run, model_on_split, now_iso, read_dev_scores, read_run_files, save_run,
)
from recengine.train.trainer import (
    Prepared, ProgressCallback, Trainer, TrainEvent, fit_calibration, split_for_selection,
)
from recengine.workspace import Workspace

ID_TABLES = ("article_ids.weight", "article_bias.weight", "user_ids.weight")
MANIFEST = "manifest.json"
JOURNAL_PREFIX = ".update-"
EDITOR_LOCK_PREFIX = ".#"
CONFLICT_FIELDS = ("title", "category", "subcategory")
SHOWN_CONFLICTS = 5
# Faults of the disk or its permissions while staging: one line naming the path, not an internal error.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


class AlreadyConsumedError(RecengineError):
    """The input was consumed by an earlier update (its rows are in the archive)."""


@dataclass
class UpdateResult:
    path: Path
    recommender: Recommender
    metrics: dict | None
    meta: dict
    history: list[dict]
    parent_metrics: dict | None = None  # the parent on the same evaluation data as ``metrics``


# --------------------------------------------------------------------------- identity by rows


def _impression_lines(b: Behaviors) -> list[str]:
    users = b.impression_user_ids.tolist()
    times = b.times.astype("datetime64[s]").astype(str).tolist()
    history = b.articles[b.history].tolist()
    candidates = [f"{a}-{label}" for a, label in zip(b.articles[b.candidates].tolist(), b.labels.tolist())]
    hp, cp = b.history_ptr.tolist(), b.candidate_ptr.tolist()
    return [
        "\t".join((str(i), str(users[n]), times[n], " ".join(history[hp[n] : hp[n + 1]]),
                   " ".join(candidates[cp[n] : cp[n + 1]])))
        for n, i in enumerate(b.impression_ids.tolist())
    ]


def _article_lines(news: News) -> list[str]:
    frame = news.frame[list(NEWS_COLUMNS)].astype(str)
    return ["\t".join(row) for row in frame.itertuples(index=False, name=None)]


def rows_fingerprint(split: MindSplit) -> str:
    """SHA-256 over the rows an update of ``split`` adds: its impressions and its articles, each sorted."""
    digest = hashlib.sha256()
    for section, lines in (("impressions", _impression_lines(split.behaviors)), ("articles", _article_lines(split.news))):
        digest.update(f"[{section}]\n".encode())
        for line in sorted(lines):
            digest.update(line.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def input_fingerprint(folder: str | Path) -> str:
    """The rows fingerprint of a MIND input folder (its ``train/`` split, or the bare split)."""
    return rows_fingerprint(load_dataset(folder).train)


def find_archived(archive: Path, fingerprint: str) -> Path | None:
    matches = sorted(Path(archive).glob(f"*-{fingerprint[:16]}")) if Path(archive).is_dir() else []
    return matches[0] if matches else None


# --------------------------------------------------------------------------- the archive rule


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or other special file"


def _editor_lock(path: Path, mode: int) -> bool:
    """An editor's lock file: a dangling symbolic link named ``.#<name>``."""
    return stat.S_ISLNK(mode) and path.name.startswith(EDITOR_LOCK_PREFIX) and not path.exists()


def input_files(folder: str | Path) -> list[Path]:
    """The regular files of an input folder (relative, sorted), under the archive rule of the module docstring."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("is a file; expected a folder" if folder.exists() else "folder does not exist", path=folder)

    def unreadable(exc: OSError) -> None:
        raise InputError(f"cannot be read ({exc.strerror})", path=exc.filename or folder)

    files = []
    for root, dirs, names in os.walk(folder, onerror=unreadable):
        for name in sorted(dirs + names):
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                files.append(path.relative_to(folder))
            elif not stat.S_ISDIR(mode) and not _editor_lock(path, mode):
                raise InputError(f"is {_kind(mode)}; the archive keeps only regular files (put the file itself here)",
                                 path=path)
    if not files:
        raise InputError("no files to consume", path=folder)
    return sorted(files)


def _snapshot(source: Path, files: Sequence[Path], target: Path) -> None:
    """Copy ``files`` (relative to ``source``) under ``target``, each flushed to disk."""
    for relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(source / relative, "rb") as reader, open(destination, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())


# --------------------------------------------------------------------------- lock and journal


@contextmanager
def _archive_lock(archive: Path) -> Iterator[None]:
    mkdir_checked(archive)
    try:
        handle = open(archive / ".lock", "w")
    except OSError as exc:
        raise InputError(f"cannot be locked ({exc.strerror})", path=archive) from None
    with handle:
        _wait_for_lock(handle, archive)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_for_lock(handle, archive: Path) -> None:
    """Take the archive's lock, waiting for another update as long as a store writer waits (see
    :func:`recengine.data.store.timeout_s`); then a one-line refusal instead of an endless, silent wait."""
    deadline = time.monotonic() + timeout_s()
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise InputError("another update into this archive is running; try again when it has finished "
                                 f"(waited {timeout_s():.0f} s, $RECENGINE_STORE_TIMEOUT)", path=archive) from None
            time.sleep(0.2)


_JOURNAL_PATHS = ("out", "staged_run", "staged_entry", "entry", "retired")


@dataclass
class _Journal:
    """One update's commit: where the child and the archive entry are staged and where they go."""

    file: Path
    out: Path
    staged_run: Path  # hidden, beside out
    staged_entry: Path  # hidden, in the archive
    entry: Path  # the archive entry: <UTC time>-<fingerprint[:16]>
    retired: Path  # where a run replaced under --force waits to be deleted

    @classmethod
    def plan(cls, archive: Path, out: Path, fingerprint: str) -> "_Journal":
        key = uuid.uuid4().hex[:12]
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return cls(archive / f"{JOURNAL_PREFIX}{key}.json", out, out.parent / f".{out.name}.{key}.staging",
                   archive / f".{key}.staging", archive / f"{stamp}-{fingerprint[:16]}",
                   out.parent / f".{out.name}.{key}.retired")

    def write(self, state: str) -> None:
        atomic.write_json(self.file, {"state": state, **{name: str(getattr(self, name)) for name in _JOURNAL_PATHS}})

    @classmethod
    def read(cls, file: Path) -> tuple["_Journal", str]:
        """The journal in ``file`` and its state; refuses one whose paths this program would not have written."""
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            journal = cls(file, **{name: Path(data[name]) for name in _JOURNAL_PATHS})
            state = data["state"]
        except (OSError, ValueError, KeyError, TypeError):
            raise RecengineError(f"{file}: an unreadable update journal; move it out of the archive to go on") from None
        hidden = all(p.name.startswith(".") for p in (journal.staged_run, journal.staged_entry, journal.retired))
        inside = journal.staged_entry.parent == file.parent and journal.entry.parent == file.parent
        if state not in ("staging", "commit") or not (hidden and inside):
            raise RecengineError(f"{file}: not an update journal of this program; move it out of the archive to go on")
        return journal, state


def _roll_back(journal: _Journal) -> None:
    """Undo an update that did not reach its commit: remove everything it staged, then its journal."""
    parent = journal.staged_run.parent
    for leftover in parent.glob(f".{glob.escape(journal.staged_run.name)}.*.staging") if parent.is_dir() else ():
        shutil.rmtree(leftover, ignore_errors=True)  # a save_run cut short
    shutil.rmtree(journal.staged_run, ignore_errors=True)
    shutil.rmtree(journal.staged_entry, ignore_errors=True)
    journal.file.unlink(missing_ok=True)


def _roll_forward(journal: _Journal) -> None:
    """Finish a committed update; each step is done once and skipped when already done, so a crash anywhere
    in here is finished by running it again."""
    if journal.staged_run.is_dir():
        if journal.out.exists() and not journal.retired.exists():
            os.replace(journal.out, journal.retired)  # the run replaced under --force
        os.replace(journal.staged_run, journal.out)
    shutil.rmtree(journal.retired, ignore_errors=True)
    if journal.staged_entry.is_dir():
        os.replace(journal.staged_entry, journal.entry)
    journal.file.unlink(missing_ok=True)


def _recover_locked(archive: Path) -> list[str]:
    done = []
    for cut_short in archive.glob(f".{JOURNAL_PREFIX}*.tmp"):
        cut_short.unlink(missing_ok=True)  # a journal write killed before its rename: nothing was staged yet
    for file in sorted(archive.glob(f"{JOURNAL_PREFIX}*.json")):
        journal, state = _Journal.read(file)
        if state == "commit":
            _roll_forward(journal)
            done.append(f"finished an interrupted update into {journal.out}")
        else:
            _roll_back(journal)
            done.append(f"undid an interrupted update into {journal.out}")
    return done


def recover(archive: str | Path) -> list[str]:
    """Finish (committed) or undo (not committed) the updates interrupted in ``archive``; returns what was done.

    Every update runs this first; call it to clean up without updating.
    """
    archive = Path(archive).resolve()
    if not archive.is_dir():
        return []
    with _archive_lock(archive):
        return _recover_locked(archive)


# --------------------------------------------------------------------------- the guard


def article_conflicts(known: Sequence[str], parent_news: News, news: News) -> list[tuple[str, list[str]]]:
    """Articles of ``news`` whose id is in ``known`` (the parent's catalogue) but whose content differs from
    ``parent_news``: ``(id, the fields that differ)``, in the new data's order."""
    catalogue = set(known)
    ids = news.frame["news_id"].tolist()
    rows = [i for i, a in enumerate(ids) if a in catalogue and a in parent_news.position]
    if not rows:
        return []
    old_rows = [parent_news.position[ids[i]] for i in rows]
    new_frame, old_frame = news.frame.iloc[rows], parent_news.frame.iloc[old_rows]
    differs = {f: new_frame[f].astype(str).to_numpy() != old_frame[f].astype(str).to_numpy() for f in CONFLICT_FIELDS}
    differs["entities"] = np.array([set(news.entities[i]) != set(parent_news.entities[j]) for i, j in zip(rows, old_rows)])
    conflicts = []
    for k, i in enumerate(rows):
        fields = [name for name, mask in differs.items() if mask[k]]
        if fields:
            conflicts.append((ids[i], fields))
    return conflicts


def _refuse_conflicts(conflicts: list[tuple[str, list[str]]], path: Path) -> None:
    shown = "; ".join(f"{a} ({', '.join(fields)})" for a, fields in conflicts[:SHOWN_CONFLICTS])
    more = f" and {len(conflicts) - SHOWN_CONFLICTS} more" if len(conflicts) > SHOWN_CONFLICTS else ""
    raise InputError(
        f"{len(conflicts)} article ids of the new data are in the parent run with different content: {shown}{more}; "
        "is this another dataset? --allow-conflicts keeps the parent's version of these articles and uses only "
        "their clicks", path=path,
    )


# --------------------------------------------------------------------------- growing the network


def _new_rows_only(n_old: int):
    """A gradient hook keeping only rows >= n_old of a sparse (or dense) table gradient."""

    def hook(grad: torch.Tensor) -> torch.Tensor:
        if grad.is_sparse:
            grad = grad.coalesce()
            keep = grad.indices()[0] >= n_old
            # A subset of a coalesced tensor's entries is still sorted and unique.
            return torch.sparse_coo_tensor(
                grad.indices()[:, keep], grad.values()[keep], grad.shape, is_coalesced=True, check_invariants=False
            )
        grad = grad.clone()
        grad[:n_old] = 0
        return grad

    return hook


def frozen_graph_outputs(parent: Recommender, catalog) -> torch.Tensor | None:
    """(A, d) output of the parent's graph encoder for every article of the grown ``catalog`` (None without the
    graph view), computed once without dropout: what the new rows start from and train against."""
    net = parent.net
    if "graph" not in net.views:
        return None
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            return net.graph_outputs(catalog.graph.tensors(), catalog.text)
    finally:
        net.train(was_training)


def grow_network(parent: Recommender, catalog, users: IdMap, seen_articles: np.ndarray, seen_users: np.ndarray,
                 graph_out: torch.Tensor | None = None) -> RecommenderNet:
    """A network sized for the grown catalogue and user table, carrying every parent weight.

    New article rows start from the parent's fill for unseen articles (nearest neighbours or the mean).
    ``graph_out``: :func:`frozen_graph_outputs` when the caller has it already.
    """
    old = parent.net
    # New user rows keep their random start: drawn from the run's seed, not from whatever this process drew
    # before, so the same update gives the same child.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(parent.config.train.seed)
        net = RecommenderNet.for_catalog(parent.config.model, catalog, len(users))
    state = net.state_dict()
    for name, value in old.state_dict().items():
        target = state[name]
        if target.shape == value.shape:
            target.copy_(value)
        else:  # a grown table or mask: the parent's rows first
            target[: value.shape[0]].copy_(value)
    net.load_state_dict(state)
    n_articles_old = old.article_trained.shape[0]
    if "id" in net.views and len(catalog) > n_articles_old:
        grown = Recommender(parent.config, catalog, users, old, str(parent.device))
        rows = torch.arange(len(catalog))
        if graph_out is None:
            graph_out = frozen_graph_outputs(parent, catalog)
        with torch.no_grad():
            vectors, biases = grown._id_parts(rows, catalog.text, graph_out)
            net.article_ids.weight[n_articles_old:] = vectors[n_articles_old:]
            net.article_bias.weight[n_articles_old:] = biases[n_articles_old:]
    with torch.no_grad():
        net.article_trained[: len(seen_articles)] |= torch.from_numpy(seen_articles)
        net.user_trained[: len(seen_users)] |= torch.from_numpy(seen_users)
    return net


# --------------------------------------------------------------------------- the phases


@dataclass
class _Request:
    """One update's arguments, checked before any work."""

    parent: LoadedRun | Path
    parent_path: Path
    new_data: Path
    out: Path
    archive: Path
    dataset: MindDataset | Path | None  # the parent's dataset when given
    dataset_root: Path | None  # the parent's dataset folder, given or recorded in the run
    eval_data: MindDataset | Path | None
    epochs: int
    full_epochs: int
    lr_decay: float
    allow_conflicts: bool
    allow_dataset_change: bool
    files: list[Path] = field(default_factory=list)  # the input's regular files, to archive

    @property
    def inputs(self) -> list[tuple[str, Path | None]]:
        evaluation = self.eval_data if isinstance(self.eval_data, Path) else None
        return [("new data", self.new_data), ("parent run", self.parent_path), ("archive", self.archive),
                ("parent's dataset", self.dataset_root), ("evaluation data", evaluation)]


@dataclass
class _Grown:
    """The parent grown for the new data: the network and the training data over the grown catalogue and user
    table (the evaluation split is viewed once, at the end: :func:`_evaluate`)."""

    prepared: Prepared
    net: RecommenderNet
    new_articles: int
    new_users: int
    graph_out: torch.Tensor | None  # the frozen graph view of the grown catalogue (phase 1 reads it)


def check_update_options(epochs: int, full_epochs: int, lr_decay: float) -> None:
    """Refuse epoch counts and a learning-rate factor an update cannot run with (before any work)."""
    if epochs < 0 or full_epochs < 0 or epochs + full_epochs == 0:
        raise InputError("an update needs at least one epoch (new rows and/or everything)")
    if not 0.0 < lr_decay <= 1.0:
        raise InputError(f"lr decay must be in (0, 1], got {lr_decay}")


def _as_path(data: MindDataset | str | Path | None) -> MindDataset | Path | None:
    return data if data is None or isinstance(data, MindDataset) else Path(data)


def _dataset_root(parent: LoadedRun | str | Path, dataset) -> Path | None:
    """The parent's dataset folder: the one given, else the one the run records (read without loading)."""
    if isinstance(dataset, MindDataset):
        return Path(dataset.root)
    if dataset is not None:
        return Path(dataset)
    if isinstance(parent, LoadedRun):
        return Path(parent.dataset.root)
    root = (read_run_files(parent)[1].get("dataset") or {}).get("root")
    return Path(root) if root else None


def _check_paths(request: _Request) -> None:
    """Inputs are never outputs; the output and the archive can be written; the input's files are archivable."""
    if request.out.resolve() == request.parent_path:
        raise InputError("the update must write a new run, not replace its parent", path=request.out)
    check_not_input(request.out, request.inputs)
    check_not_input(request.archive, [("new data", request.new_data), ("parent run", request.parent_path)],
                    what="archive")
    check_writable(request.out)
    check_writable(request.archive / MANIFEST)
    request.files = input_files(request.new_data)


def _load_new_data(request: _Request) -> tuple[MindDataset, str]:
    """The new data, read, and its rows fingerprint; refuses input consumed before."""
    fresh = load_dataset(request.new_data)
    fingerprint = rows_fingerprint(fresh.train)
    done = find_archived(request.archive, fingerprint)
    if done is not None:
        raise AlreadyConsumedError(f"{request.new_data} was already consumed (archived at {done}); nothing to do")
    return fresh, fingerprint


def _load_parent(request: _Request, embedder, cache) -> tuple[LoadedRun, MindDataset]:
    """The parent run and the dataset whose dev split evaluates the update. Evaluation data of the parent's own
    dataset folder (as the zero-shot comparison gives it, in memory) is read once: the parent is loaded with it,
    and its folder is checked against the parent's fingerprint all the same."""
    loaded, evaluation = request.parent, request.eval_data
    same_folder = evaluation is not None and request.dataset is None and request.dataset_root is not None and (
        Path(evaluation.root if isinstance(evaluation, MindDataset) else evaluation).resolve()
        == request.dataset_root.resolve())
    if not isinstance(loaded, LoadedRun):
        data = request.eval_data if same_folder else request.dataset
        data = load_dataset(data) if isinstance(data, Path) else data
        loaded = load_run(request.parent_path, dataset=data, embedder=embedder, cache=cache,
                          allow_dataset_change=request.allow_dataset_change)
    if evaluation is None or (same_folder and isinstance(evaluation, Path)):
        return loaded, loaded.dataset
    return loaded, evaluation if isinstance(evaluation, MindDataset) else load_dataset(evaluation)


def _guard(loaded: LoadedRun, fresh: MindDataset, allow_conflicts: bool) -> int:
    """Refuse new data that redefines the parent's articles (see the module docstring); returns how many
    conflicting articles keep the parent's version under ``allow_conflicts``."""
    conflicts = article_conflicts(loaded.recommender.catalog.articles.ids, loaded.dataset.news, fresh.train.news)
    if conflicts and not allow_conflicts:
        _refuse_conflicts(conflicts, fresh.train.path / NEWS_FILE)
    return len(conflicts)


def _grow(base: Recommender, fresh: MindDataset, embedder, cache, label: str) -> _Grown:
    """The catalogue and user table grown by the new data (an id already known keeps the parent's content), the
    network grown to fit them, and the training data over them: no evaluation split, so a pass is validated
    only on the validation split carved from the new data, when the parent's rule selects on one."""
    catalog = copy.deepcopy(base.catalog)
    new_articles = catalog.extend(fresh.train.news, embedder, cache=cache)
    catalog.note_first_seen(fresh.train.behaviors)
    users = IdMap(base.users.ids)
    new_users = users.extend(fresh.train.behaviors.users)
    train = build_interactions(fresh.train.behaviors, catalog, users)
    if not (train.labels == 1).any():
        raise InputError("the new data has no clicks on known or new articles", path=fresh.root)
    # The parent's selection rule holds for the update too: the new data's latest impressions select.
    selection = base.config.train
    validation = None
    if selection.select_on == "validation":
        train, validation, carve = split_for_selection(train, selection.validation_fraction, "the new data")
    else:
        carve = {"split": None}  # not the evaluation split: the passes run as asked, kept by their training loss
    graph_out = frozen_graph_outputs(base, catalog)
    net = grow_network(base, catalog, users, *_seen(train, len(catalog), len(users)), graph_out=graph_out)
    if base.config.model.user_encoder == "transformer":
        attach_history_times(train, click_log([train]))
        if validation is not None:
            attach_history_times(validation, click_log([train, validation]))
    prepared = Prepared(catalog, users, train, catalog, None, None, embedder, label, [], validation, carve)
    return _Grown(prepared, net, len(new_articles), len(new_users), graph_out)


def _seen(train: Interactions, n_articles: int, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    seen_articles = np.zeros(n_articles, dtype=bool)
    seen_articles[train.history] = True
    seen_articles[train.candidates] = True
    seen_users = np.zeros(n_users, dtype=bool)
    seen_users[np.unique(train.user_rows[train.user_rows >= 0])] = True
    return seen_articles, seen_users


class _FrozenGraph(torch.nn.Module):
    """Stands in for the graph encoder while it is frozen: its output for every catalogue article, looked up
    (the batches and the validation both read the grown catalogue's rows)."""

    supports_rows = True

    def __init__(self, outputs: torch.Tensor):
        super().__init__()
        self.outputs = outputs

    def forward(self, graph, features=None) -> torch.Tensor:
        return self.outputs

    def forward_rows(self, graph, features, rows: torch.Tensor, isolate=None) -> torch.Tensor:
        return self.outputs[rows]


@contextmanager
def _graph_frozen(net: RecommenderNet, outputs: torch.Tensor | None) -> Iterator[None]:
    """Within: the network's graph encoder is replaced by its precomputed ``outputs`` (nothing to do without
    them); the encoder, unchanged, is put back after."""
    if outputs is None:
        yield
        return
    encoder = net.graph
    net.graph = _FrozenGraph(outputs)
    try:
        yield
    finally:
        net.graph = encoder


def _train_new_rows(grown: _Grown, base: Recommender, epochs: int, progress) -> tuple[list[dict], int]:
    """Phase 1: only the new rows of the ID tables move (see the module docstring); the frozen graph view is
    looked up, not run, in every batch."""
    net, config = grown.net, base.config
    n_old_articles, n_old_users = base.net.article_trained.shape[0], base.net.user_trained.shape[0]
    hooks = []
    if "id" in net.views:
        hooks.append(net.article_ids.weight.register_hook(_new_rows_only(n_old_articles)))
        hooks.append(net.article_bias.weight.register_hook(_new_rows_only(n_old_articles)))
    if net.user_ids is not None:
        hooks.append(net.user_ids.weight.register_hook(_new_rows_only(n_old_users)))
    phase = RunConfig(config.model, replace(config.train, epochs=epochs, warmup=0.0))
    try:
        with _graph_frozen(net, grown.graph_out):
            result = Trainer(grown.prepared, phase, net=net, progress=progress).fit(
                trainable=lambda name: name in ID_TABLES)
    finally:
        for hook in hooks:
            hook.remove()
    return [{**h, "phase": "new_rows"} for h in result.history], result.samples_seen


def _train_all(grown: _Grown, base: Recommender, epochs: int, lr_decay: float, progress) -> tuple[list[dict], int]:
    """Phase 2: everything, at the parent's learning rate times ``lr_decay``."""
    phase = RunConfig(base.config.model, replace(base.config.train, epochs=epochs, warmup=0.0))
    result = Trainer(grown.prepared, phase, net=grown.net, progress=progress).fit(lr_scale=lr_decay)
    return [{**h, "phase": "all"} for h in result.history], result.samples_seen


def _train(request: _Request, grown: _Grown, base: Recommender, progress, clock: "_Stopwatch"
           ) -> tuple[list[dict], int]:
    """Both phases as asked: ``(history, samples seen)``."""
    report = progress or (lambda event: None)
    history, samples = [], 0
    if request.epochs:
        report(TrainEvent("prepare", message="phase 1: training the new rows only"))
        history, samples = _train_new_rows(grown, base, request.epochs, progress)
        clock.lap("train_new_rows")
    if request.full_epochs:
        report(TrainEvent("prepare", message=f"phase 2: training everything at {request.lr_decay} x the learning rate"))
        more, seen = _train_all(grown, base, request.full_epochs, request.lr_decay, progress)
        history, samples = history + more, samples + seen
        clock.lap("train_all")
    return history, samples


def recorded_parent_metrics(request: _Request, loaded: LoadedRun, evaluation: MindDataset,
                            inter: Interactions) -> dict | None:
    """The parent's metrics as its training recorded them, when they were measured on the evaluation data: None
    unless the parent is a full run loaded here from its folder with its dataset checked against the fingerprint
    it recorded (no ``allow_dataset_change``), the evaluation data is that dataset (same folder; for a
    transformer user encoder, which reads the train split's click times, the dataset itself), and the dev scores
    it kept cover exactly ``inter``'s impressions, candidates and labels."""
    meta, metrics = loaded.meta, loaded.metrics
    if (meta.get("mode") != "full" or request.allow_dataset_change or isinstance(request.parent, LoadedRun)
            or not (meta.get("dataset") or {}).get("fingerprint") or not isinstance(metrics, dict)
            or not isinstance(metrics.get("model"), dict)):
        return None
    if loaded.recommender.config.model.user_encoder == "transformer" and evaluation is not loaded.dataset:
        return None
    if Path(evaluation.root).resolve() != Path(loaded.dataset.root).resolve():
        return None
    kept = read_dev_scores(loaded.path)
    if kept is None or not kept.same_impressions(SplitScores(np.empty(0), inter.labels.astype(np.int8),
                                                             inter.candidate_ptr.astype(np.int64),
                                                             np.asarray(inter.impression_ids, dtype=np.int64))):
        return None
    return {k: v for k, v in metrics.items() if k != "selected_on"}


def _evaluate(updated: Recommender, request: _Request, loaded: LoadedRun, evaluation: MindDataset, embedder, cache
              ) -> tuple[dict | None, dict | None, bool]:
    """The child's metrics and its parent's on the same evaluation impressions (None without labeled dev), and
    whether the parent's were read from the parent (:func:`recorded_parent_metrics`) rather than measured."""
    if evaluation.dev is None or not evaluation.dev.behaviors.labeled:
        return None, None, False
    base = loaded.recommender
    seed = base.config.train.seed
    child, inter, truth = model_on_split(updated, evaluation, "dev", embedder=embedder, cache=cache)
    metrics = evaluate_interactions(child, inter, truth=truth, seed=seed)
    recorded = recorded_parent_metrics(request, loaded, evaluation, inter)
    if recorded is not None:
        return metrics, recorded, True
    model, inter, truth = model_on_split(base, evaluation, "dev", embedder=embedder, cache=cache)
    return metrics, evaluate_interactions(model, inter, truth=truth, seed=seed), False


class _Stopwatch:
    """Seconds per stage of one update (``laps``, recorded in meta.json), to say where its time goes."""

    def __init__(self, started: float):
        self.started = self.last = started
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 2)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.started


def _child_meta(request: _Request, journal: _Journal, loaded: LoadedRun, grown: _Grown, fingerprint: str,
                skipped: int, samples: int, seconds: float) -> dict:
    return {
        **{k: v for k, v in loaded.meta.items() if k in ("dataset", "device")},
        "mode": "incremental",
        "parent": str(request.parent_path),
        "created_at": now_iso(),
        "last_update": now_iso(),
        "samples_seen": int(loaded.meta.get("samples_seen", 0)) + samples,
        "new_articles": grown.new_articles,
        "new_users": grown.new_users,
        "selection": grown.prepared.carve,
        "update": {
            "input": str(request.new_data.resolve()),
            "fingerprint": fingerprint,
            "archive_entry": str(journal.entry),
            "conflicting_articles_skipped": skipped,
            "epochs_new_rows": request.epochs,
            "epochs_all": request.full_epochs,
            "lr_decay": request.lr_decay,
            "seconds": round(seconds, 2),
        },
        "warnings": [],
    }


def _stage_entry(journal: _Journal, request: _Request, fingerprint: str, skipped: int) -> None:
    """The archive entry's manifest, beside the input's copy: the record that the input was consumed."""
    atomic.write_json(journal.staged_entry / MANIFEST, {
        "fingerprint": fingerprint,
        "fingerprint_of": "rows",
        "source": str(request.new_data.resolve()),
        "files": [str(p) for p in request.files],
        "consumed_by": str(journal.out),
        "archived_at": journal.entry.name.split("-")[0],
        "conflicting_articles_skipped": skipped,
    })


def _stage(request: _Request, journal: _Journal, fresh: MindDataset, fingerprint: str, embedder, cache, progress,
           started: float) -> UpdateResult:
    """Everything before the commit: copy the input, load the parent, guard, grow, train, evaluate, stage."""
    report = progress or (lambda event: None)
    clock = _Stopwatch(started)
    clock.lap("read_input")
    _snapshot(request.new_data, request.files, journal.staged_entry / "input")
    clock.lap("archive_copy")
    loaded, evaluation = _load_parent(request, embedder, cache)
    skipped = _guard(loaded, fresh, request.allow_conflicts)
    base = loaded.recommender
    embedder = embedder or get_embedder(base.config.model.embedder)
    clock.lap("load_parent")
    report(TrainEvent("prepare", message="growing the catalogue and ID tables"))
    grown = _grow(base, fresh, embedder, cache, str(request.new_data))
    clock.lap("grow")
    history, samples = _train(request, grown, base, progress, clock)
    p = grown.prepared
    updated = Recommender(base.config, p.catalog, p.users, grown.net, str(base.device))
    updated.calibration = fit_calibration(updated, p, seed=base.config.train.seed)
    clock.lap("calibrate")
    report(TrainEvent("prepare", message="evaluating the update and its parent on dev"))
    metrics, parent_metrics, recorded = _evaluate(updated, request, loaded, evaluation, embedder, cache)
    if metrics is not None:
        metrics["selected_on"] = p.selected_on
    clock.lap("evaluate")
    meta = _child_meta(request, journal, loaded, grown, fingerprint, skipped, samples, clock.total())
    meta.update(parent_metrics=parent_metrics, calibration=updated.calibration.to_dict(),
                evaluation={"parent_metrics": "recorded by the parent" if recorded else "measured"})
    meta["update"]["stages"] = clock.laps
    save_run(journal.staged_run, updated, meta=meta, history=history, metrics=metrics)
    _stage_entry(journal, request, fingerprint, skipped)
    return UpdateResult(request.out, updated, metrics, meta, history, parent_metrics)


def _fault_place(journal: _Journal, filename) -> Path:
    """The folder a user can act on for a fault met at ``filename``: the archive or the run's folder, not the
    hidden staging name, which is gone once rolled back."""
    path = Path(filename) if filename else journal.staged_entry
    if path.is_relative_to(journal.staged_entry):
        return journal.staged_entry.parent
    if path.is_relative_to(journal.staged_run):
        return journal.out.parent
    return path


def _staged(request: _Request, journal: _Journal, fresh: MindDataset, fingerprint: str, embedder, cache, progress,
            started: float) -> UpdateResult:
    """:func:`_stage`, rolled back on any failure; a disk or permission fault becomes one line naming the path."""
    try:
        return _stage(request, journal, fresh, fingerprint, embedder, cache, progress, started)
    except OSError as exc:
        _roll_back(journal)
        if exc.errno in DISK_ERRORS:
            raise InputError(f"the update could not be written ({exc.strerror}); nothing was changed",
                             path=_fault_place(journal, exc.filename)) from None
        raise
    except BaseException:
        _roll_back(journal)
        raise


def _commit(journal: _Journal) -> None:
    """The commit point is the journal's state 'commit'; the renames after it are finished by any later recovery."""
    try:
        journal.write("commit")
    except BaseException:
        _roll_back(journal)
        raise
    try:
        _roll_forward(journal)
    except OSError as exc:
        raise RecengineError(
            f"the update into {journal.out} is committed but could not be put in place ({exc.strerror}); the next "
            f"update, or recover({str(journal.file.parent)!r}), finishes it"
        ) from None


# --------------------------------------------------------------------------- the update


def update_run(
    parent: LoadedRun | str | Path,
    new_data: str | Path,
    out: str | Path,
    *,
    epochs: int = 2,
    full_epochs: int = 0,
    lr_decay: float = 0.3,
    dataset: MindDataset | str | Path | None = None,
    eval_data: MindDataset | str | Path | None = None,
    embedder=None,
    cache=None,
    archive: str | Path | None = None,
    allow_conflicts: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
    allow_dataset_change: bool = False,
) -> UpdateResult:
    """Fold ``new_data`` (a MIND folder: ``train/`` or a bare split with news.tsv and behaviors.tsv) into a copy of
    ``parent`` and save it to ``out``, all or nothing (see the module docstring).

    ``dataset`` is the parent's dataset when it moved (default: the folder the run records); ``eval_data``'s dev
    split evaluates the child and the parent (default: the parent's dataset). ``force`` replaces an existing
    ``out`` that is a run. Raises :class:`AlreadyConsumedError` when the same rows were consumed before, and
    InputError for new data whose article ids the parent holds with other content, unless ``allow_conflicts``
    (which keeps the parent's version of those articles and counts them in ``meta["update"]``). A parent
    dataset other than the one the parent was trained on is refused unless ``allow_dataset_change``.
    """
    check_update_options(epochs, full_epochs, lr_decay)
    parent_path = Path(parent.path if isinstance(parent, LoadedRun) else parent).resolve()
    request = _Request(
        parent=parent if isinstance(parent, LoadedRun) else parent_path, parent_path=parent_path,
        new_data=Path(new_data), out=Path(out),
        archive=Path(archive if archive is not None else Workspace.default().archive).resolve(),
        dataset=_as_path(dataset), dataset_root=_dataset_root(parent, dataset), eval_data=_as_path(eval_data),
        epochs=epochs, full_epochs=full_epochs, lr_decay=lr_decay, allow_conflicts=allow_conflicts,
        allow_dataset_change=allow_dataset_change,
    )
    _check_paths(request)
    report = progress or (lambda event: None)
    started = time.perf_counter()
    with _archive_lock(request.archive):
        for line in _recover_locked(request.archive):
            report(TrainEvent("prepare", message=line))
        fresh, fingerprint = _load_new_data(request)
        check_output_folder(request.out, force=force, inputs=request.inputs)
        journal = _Journal.plan(request.archive, request.out.resolve(), fingerprint)
        journal.write("staging")
        result = _staged(request, journal, fresh, fingerprint, embedder, cache, progress, started)
        _commit(journal)
    report(TrainEvent("done", metrics=result.metrics and result.metrics["model"]))
    return result
