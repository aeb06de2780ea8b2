"""Faults: processes killed (SIGKILL, no clean-up) in the middle of training, an incremental update, a store import
and a folder swap. Afterwards the previous run, the store and the archive are intact, and the next start works.

Kill points are chosen from what the process has reached (its progress lines on stderr, or a ``.staging`` folder
appearing) plus a seeded random delay, so every phase is hit on a fast or a slow machine; nothing in the library
is slowed down or hooked for the test. The steps of a folder swap and of an update's commit, microseconds apart,
are hit exactly by a process that kills itself right after its k-th rename.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from recengine.data.mind import load_dataset
from recengine.data.store import Store
from recengine.train.api import evaluate_run
from recengine.train.runs import load_run

from .conftest import PYTHON, REPO, folder_digest, subprocess_env

SEED = 20241122


class Victim:
    """A process whose stdout and stderr go to files, so the test can watch its progress and kill it anywhere."""

    def __init__(self, argv: list[str], folder: Path, env: dict[str, str] | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.err_path, self.out_path = folder / "stderr.txt", folder / "stdout.txt"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([PYTHON, *map(str, argv)], cwd=REPO, env=env or subprocess_env(),
                                         stdout=out, stderr=err, start_new_session=True)
        self.started = time.monotonic()

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_for(self, ready, timeout: float = 240) -> bool:
        """Poll every few milliseconds until ``ready()`` or the process ends; True if ``ready()``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return True
            if self.proc.poll() is not None:
                return bool(ready())
            time.sleep(0.002)
        raise AssertionError(f"timed out; stderr: {self.err[-2000:]}")

    def kill_after(self, seconds: float) -> bool:
        """SIGKILL the whole process group after ``seconds`` (if still running); True if it was killed."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.002)
        killed = self.proc.poll() is None
        if killed:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        return killed

    def finish(self, timeout: float = 300) -> int:
        return self.proc.wait(timeout=timeout)


def staging_in(folder: Path):
    return lambda: folder.is_dir() and any(p.name.endswith(".staging") for p in folder.iterdir())


def said(victim: Victim, words: str):
    return lambda: words in victim.err


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# --------------------------------------------------------------------------- swapping a folder


SWAP = """
import os, signal, sys
from pathlib import Path
from recengine import atomic

target, kill_at = Path(sys.argv[1]), int(sys.argv[2])
calls = 0
real = os.replace

def replace(src, dst):
    global calls
    real(src, dst)
    calls += 1
    if calls == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
with atomic.replace_dir(target) as staging:
    (staging / "weights").write_text("new weights")
    (staging / "config").write_text("new config")
print("done")
"""


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_a_kill_between_the_steps_of_a_folder_swap_leaves_a_whole_folder(tmp_path: Path, kill_at: int):
    """``atomic.replace_dir`` over an existing folder, killed right after its k-th rename: the folder is there under
    its name, whole, old or new, never missing (a move-aside-then-move-in swap loses it for a moment)."""
    target = tmp_path / "run"
    target.mkdir()
    (target / "weights").write_text("old weights")
    (target / "config").write_text("old config")
    done = subprocess.run([PYTHON, "-c", SWAP, str(target), str(kill_at)], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    assert target.is_dir(), f"killed after rename {kill_at}: {sorted(p.name for p in tmp_path.iterdir())}"
    contents = {p.name: p.read_text() for p in target.iterdir()}
    assert contents in ({"weights": "old weights", "config": "old config"},
                        {"weights": "new weights", "config": "new config"})
    assert visible(tmp_path) == ["run"]


# --------------------------------------------------------------------------- training


@pytest.fixture
def runs_dir(tiny_run: Path, tmp_path: Path) -> Path:
    """A runs folder holding one good run, ``good`` (a copy of the session's tiny run)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(tiny_run, runs / "good")
    return runs


def whole_run(path: Path, cache) -> bool:
    """Whether ``path`` is a complete run that loads (config, meta, id maps, weights all readable)."""
    load_run(path, cache=cache)
    return True


@pytest.mark.slow
def test_killing_a_training_keeps_the_previous_run_and_the_next_one_works(runs_dir, tiny_run, tiny_data, tiny_cache,
                                                                         tmp_path):
    good = runs_dir / "good"
    before = folder_digest(good)
    metrics_before = evaluate_run(good, cache=tiny_cache)
    argv = ["-m", "recengine", "train", "--data", tiny_data, "--out", good, "--force", "--embedder", "hashing",
            "--epochs", "1", "--cache", tiny_cache.folder]
    rng = random.Random(SEED)
    # (phase, what to wait for, then a seeded random delay): start-up and data loading, training, evaluation, saving.
    kill_points = [
        ("start-up", lambda v: True, rng.uniform(0.3, 2.5)),
        ("training", lambda v: "epoch 1/1" in v.err, rng.uniform(0.0, 0.3)),
        ("evaluation", lambda v: "evaluating on dev" in v.err, rng.uniform(0.0, 0.05)),
        ("saving", lambda v: staging_in(runs_dir)(), 0.0),
    ]
    for n, (phase, ready, delay) in enumerate(kill_points):
        victim = Victim(argv, tmp_path / f"train-{n}")
        assert victim.wait_for(lambda: ready(victim)), (phase, victim.err[-2000:])
        killed = victim.kill_after(delay)
        assert killed or phase == "saving", f"the {phase} kill came too late: {victim.err[-1000:]}"
        # Under the run's name there is the previous run, byte for byte, or (killed after the swap) the new one,
        # whole; anything half-written is hidden (.staging) and never read.
        assert visible(runs_dir) == ["good"], (phase, sorted(p.name for p in runs_dir.iterdir()))
        if folder_digest(good) != before:
            assert phase == "saving" and whole_run(good, tiny_cache)
            shutil.rmtree(good)
            shutil.copytree(tiny_run, good)  # back to the previous run for the next kill
    # The previous run loads and evaluates to its old numbers, exactly.
    assert folder_digest(good) == before
    assert evaluate_run(good, cache=tiny_cache) == metrics_before
    # The next start works: a training to the end over whatever the kills left behind.
    victim = Victim(argv, tmp_path / "train-final")
    assert victim.finish() == 0, victim.err[-3000:]
    printed = json.loads(victim.out)["metrics"]["model"]
    again = evaluate_run(good, cache=tiny_cache)["model"]
    assert {k: round(v, 4) for k, v in again.items() if k in printed} == printed
    assert visible(runs_dir) == ["good"]


# --------------------------------------------------------------------------- incremental update


@pytest.fixture(scope="module")
def morning(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Day 6 before noon as a bare MIND split: new clicks, new articles, new users."""
    import numpy as np

    from recengine.data.mind import split_by_time, write_split

    before, _ = split_by_time(load_dataset(tiny_data).dev, np.datetime64("2019-11-14T12:00:00"))
    folder = tmp_path_factory.mktemp("new") / "morning"
    write_split(folder, before)
    return folder


def hidden(folder: Path) -> list[str]:
    """What an update may leave hidden in a folder (staging, journals, retired runs); the archive's lock is fine."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".lock")


def consumed_once(out: Path, archive: Path, cache) -> Path:
    """Exactly one child (whole, incremental) and exactly one archive entry naming it, nothing half-done left
    behind; returns the entry."""
    entries = visible(archive)
    assert len(entries) == 1, entries
    entry = archive / entries[0]
    assert json.loads((entry / "manifest.json").read_text())["consumed_by"] == str(out.resolve())
    assert whole_run(out, cache) and json.loads((out / "meta.json").read_text())["mode"] == "incremental"
    assert hidden(archive) == [] and hidden(out.parent) == [], (hidden(archive), hidden(out.parent))
    return entry


def rerun(parent: Path, morning: Path, out: Path, archive: Path, cache, *, force: bool = False) -> str:
    """The same update again, in this process: 'updated', or 'already_consumed' when the killed one committed."""
    from recengine.train.incremental import AlreadyConsumedError, update_run

    try:
        update_run(parent, morning, out, epochs=1, archive=archive, cache=cache, force=force)
    except AlreadyConsumedError:
        return "already_consumed"
    return "updated"


def committed_journal(archive: Path) -> bool:
    return any(json.loads(p.read_text())["state"] == "commit" for p in archive.glob(".update-*.json"))


@pytest.mark.slow
def test_killing_an_update_anywhere_then_running_it_again_consumes_the_input_once(runs_dir, morning, tiny_cache,
                                                                                  tmp_path):
    """Killed at seeded random moments of start-up, training, evaluation and saving: the parent and the input are
    untouched, a child is never visible without its archive entry (unless a committed journal says both are on
    their way), and running the update again leaves exactly one child and one archive entry."""
    parent, out, archive = runs_dir / "good", runs_dir / "updated", tmp_path / "archive"
    parent_before, input_before = folder_digest(parent), folder_digest(morning)
    argv = ["-m", "recengine", "update", "--run", parent, "--new-data", morning, "--out", out, "--epochs", "1",
            "--archive", archive, "--cache", tiny_cache.folder]
    rng = random.Random(SEED + 1)
    kill_points = [
        ("start-up", lambda v: True, rng.uniform(0.3, 2.5)),
        ("training the new rows", lambda v: "phase 1" in v.err, rng.uniform(0.0, 0.05)),
        ("evaluating", lambda v: "evaluating the update" in v.err, rng.uniform(0.0, 0.05)),
        ("saving the run", lambda v: staging_in(runs_dir)(), 0.0),
    ]
    for n, (phase, ready, delay) in enumerate(kill_points):
        victim = Victim(argv, tmp_path / f"update-{n}")
        assert victim.wait_for(lambda: ready(victim)), (phase, victim.err[-2000:])
        victim.kill_after(delay)
        assert folder_digest(parent) == parent_before and folder_digest(morning) == input_before, phase
        if out.exists() and not (archive.is_dir() and visible(archive)):
            assert committed_journal(archive), phase  # mid-commit: the next update finishes it
        rerun(parent, morning, out, archive, tiny_cache)
        consumed_once(out, archive, tiny_cache)
        shutil.rmtree(out)  # back to "not consumed" for the next kill
        shutil.rmtree(archive / visible(archive)[0])
    # The CLI, from a clean state, consumes it once; a second run says so and writes nothing.
    victim = Victim(argv, tmp_path / "update-final")
    assert victim.finish() == 0, victim.err[-3000:]
    assert json.loads(victim.out)["status"] == "updated"
    entry = consumed_once(out, archive, tiny_cache)
    assert folder_digest(entry / "input") == input_before and folder_digest(parent) == parent_before
    again = Victim(argv, tmp_path / "update-again")
    assert again.finish() == 0 and json.loads(again.out)["status"] == "already_consumed"
    assert visible(archive) == [entry.name]


# Runs an update in a real process that SIGKILLs itself right after its k-th step: a rename or removal of the
# journal, the staged child, the archive manifest, the archive entry, the output or the run it replaces.
STEPPED_UPDATE = """
import os, signal, sys
from pathlib import Path

from recengine.text import EmbeddingCache
from recengine.train.incremental import update_run

parent, new, out, archive, cache, kill_at, force = sys.argv[1:]
out, archive, kill_at = Path(out).resolve(), Path(archive).resolve(), int(kill_at)
real_replace, real_unlink = os.replace, os.unlink
steps = 0


def is_step(path) -> bool:
    path = Path(os.fsdecode(path))
    in_archive = path.parent == archive and (path.name.startswith(".update-") or not path.name.startswith("."))
    manifest = path.name == "manifest.json" and path.parent.parent == archive
    beside_out = path.parent == out.parent and path.name.startswith(f".{out.name}.") and path.name.endswith(
        (".staging", ".retired")) and path.name.count(".staging") == 1
    return in_archive or manifest or beside_out or path == out


def step(path) -> None:
    global steps
    if is_step(path):
        steps += 1
        print(f"step {steps}: {Path(os.fsdecode(path)).name}", file=sys.stderr, flush=True)
        if steps == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def replace(src, dst, **kwargs):
    real_replace(src, dst, **kwargs)
    step(dst)


def unlink(path, **kwargs):
    real_unlink(path, **kwargs)
    if kwargs.get("dir_fd") is None:
        step(path)


os.replace, os.unlink = replace, unlink
update_run(parent, new, out, epochs=1, archive=archive, cache=EmbeddingCache(cache), force=force == "force")
print("done", file=sys.stderr)
"""
# The steps of an update into a new folder, and into an existing run under --force; the commit point is the
# journal's state "commit" (step 4): a kill before it is undone, a kill after it is finished.
FRESH_STEPS = ["journal (staging)", "staged child", "archive manifest", "journal (commit)", "child in place",
               "archive entry in place", "journal removed"]
FORCE_STEPS = FRESH_STEPS[:4] + ["old run moved aside"] + FRESH_STEPS[4:]


@pytest.mark.slow
@pytest.mark.parametrize("force,kill_at", [(False, k) for k in range(1, len(FRESH_STEPS) + 1)] + [(True, 5), (True, 6)])
def test_an_update_killed_after_each_step_is_undone_or_finished(runs_dir, morning, tiny_run, tiny_cache, tmp_path,
                                                                force, kill_at):
    steps = FORCE_STEPS if force else FRESH_STEPS
    parent, out, archive = runs_dir / "good", runs_dir / "updated", tmp_path / "archive"
    if force:
        shutil.copytree(tiny_run, out)  # a run that --force replaces
    out_before = folder_digest(out) if force else None
    parent_before, input_before = folder_digest(parent), folder_digest(morning)
    done = subprocess.run([PYTHON, "-c", STEPPED_UPDATE, parent, morning, out, archive, tiny_cache.folder,
                           str(kill_at), "force" if force else "-"], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    assert f"step {kill_at}:" in done.stderr and f"step {kill_at + 1}:" not in done.stderr
    assert folder_digest(parent) == parent_before and folder_digest(morning) == input_before
    committed = kill_at >= steps.index("journal (commit)") + 1
    if not committed:  # nothing visible changed: no child (or the old run, byte for byte), no archive entry
        assert visible(archive) == [], steps[kill_at - 1]
        assert (folder_digest(out) == out_before) if force else not out.exists()
    status = rerun(parent, morning, out, archive, tiny_cache, force=force)
    assert status == ("already_consumed" if committed else "updated"), steps[kill_at - 1]
    entry = consumed_once(out, archive, tiny_cache)
    assert folder_digest(entry / "input") == input_before
    assert visible(runs_dir) == ["good", "updated"]


# --------------------------------------------------------------------------- store import


IMPORT = """
import sys

from recengine.data.mind import load_dataset
from recengine.data.store import Store

store, folder = Store(sys.argv[1]), sys.argv[2]
dataset = load_dataset(folder)
print("loaded", file=sys.stderr, flush=True)
store.import_dataset("world", dataset, source="generated")
print("imported", file=sys.stderr, flush=True)
"""
TABLES = ("articles", "users", "histories", "clicks")


def store_state(path: Path) -> dict:
    """Integrity check, and the dataset ``world``'s rows per table and its recorded summary."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE dataset = 'world'").fetchone()[0] for t in TABLES}
        row = conn.execute("SELECT summary, fingerprint FROM datasets WHERE name = 'world'").fetchone()
    return {"counts": counts, "record": row}


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recengine.data.synthetic import generate

    root = tmp_path_factory.mktemp("demo") / "demo"
    generate("demo", 0, root)
    return root


@pytest.mark.slow
def test_killing_a_store_import_keeps_the_old_dataset_or_the_new_one_whole(tiny_data, demo_data, tmp_path):
    """The store holds the tiny dataset; importing the demo dataset as ``world`` is killed at random moments
    (before, during and after its transaction). The database always opens, passes SQLite's integrity check, and
    holds no ``world`` or the whole of it, never a part."""
    path = tmp_path / "recengine.db"
    with Store(path) as store:
        store.import_dataset("other", load_dataset(tiny_data), source="generated")
    old = store_state(path)
    reference = tmp_path / "reference.db"  # the new dataset imported completely, for comparison
    shutil.copy(path, reference)
    victim = Victim(["-c", IMPORT, reference, demo_data], tmp_path / "reference")
    assert victim.finish() == 0, victim.err
    new = store_state(reference)
    assert new["counts"] != old["counts"]

    wal = Path(f"{path}-wal")
    rng = random.Random(SEED + 2)
    kill_points = [("loaded", lambda v: "loaded" in v.err, rng.uniform(0.0, 1.5)) for _ in range(2)]
    # Mid-transaction for sure: the write-ahead log has grown by megabytes of uncommitted pages.
    kill_points.append(("writing", lambda v: wal.exists() and wal.stat().st_size > 2 << 20, 0.0))
    for n, (phase, ready, delay) in enumerate(kill_points):
        with sqlite3.connect(path) as conn:  # an empty log, so that its growth shows a transaction under way
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        victim = Victim(["-c", IMPORT, path, demo_data], tmp_path / f"import-{n}")
        assert victim.wait_for(lambda: ready(victim)), (phase, victim.err[-2000:])
        victim.kill_after(delay)
        state = store_state(path)
        assert state in (old, new), (phase, state["counts"])
        if phase == "writing":
            assert state == old  # killed inside the transaction: rolled back on the next open
        if state == new:  # it got through: back to no world for the next kill
            with Store(path) as store:
                store.delete_dataset("world")
            assert store_state(path) == old
    # The next start works: the store opens in the library and the import completes.
    victim = Victim(["-c", IMPORT, path, demo_data], tmp_path / "import-final")
    assert victim.finish() == 0, victim.err
    assert store_state(path) == new
    with Store(path) as store:
        assert store.dataset("world")["summary"]["articles"] == new["counts"]["articles"]
