"""recengine.app.inbox and ``update --inbox``: every complete folder once, oldest first, chained; incomplete ones
wait; a second run does nothing; overlapping processes never share a folder; a bad folder fails alone, with its
reason; a dead process's claim is returned; bad input is refused before anything is claimed."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from recengine.app import inbox, jobs, runs
from recengine.cli import main
from recengine.data.mind import load_dataset, split_by_time, write_split
from recengine.errors import InputError
from recengine.train.incremental import input_fingerprint

REPO = Path(__file__).resolve().parents[1]
UPDATE = {"epochs": 1}


@pytest.fixture(scope="module")
def parts(tiny_data: Path, tmp_path_factory) -> dict[str, Path]:
    """Day 6 cut in three by time (disjoint rows, each with clicks), as bare MIND split folders."""
    dev = load_dataset(tiny_data).dev
    early, rest = split_by_time(dev, np.datetime64("2019-11-14T09:00:00"))
    mid, late = split_by_time(rest, np.datetime64("2019-11-14T15:00:00"))
    root = tmp_path_factory.mktemp("parts")
    folders = {}
    for name, split in (("early", early), ("mid", mid), ("late", late)):
        assert (split.behaviors.labels == 1).any()
        write_split(root / name, split)
        folders[name] = root / name
    return folders


@pytest.fixture
def served(workspace, store, tiny_run: Path) -> dict:
    """The tiny run recorded in the test's workspace and made active."""
    record = runs.register_run(store, tiny_run)
    runs.activate_run(store, record["run_id"])
    return record


def drop(box: Path, name: str, source: Path, *, complete: bool = True, at: float | None = None) -> Path:
    """Copy ``source`` into the inbox as ``name``; with ``complete``, add the marker (its time set to ``at``)."""
    box.mkdir(parents=True, exist_ok=True)
    target = shutil.copytree(source, box / name)
    if complete:
        (target / inbox.MARKER).touch()
        if at is not None:
            os.utime(target / inbox.MARKER, (at, at))
    return target


def archived(workspace) -> list[str]:
    return sorted(p.name for p in workspace.archive.iterdir() if not p.name.startswith(".")) \
        if workspace.archive.is_dir() else []


def incremental_runs(store) -> list[dict]:
    return [r for r in store.runs() if r["mode"] == "incremental"]


def names(records: list[dict]) -> list[str]:
    return [Path(r["folder"]).name for r in records]


# --------------------------------------------------------------------------------------------- order and chain


def test_complete_folders_once_oldest_first_chained_and_a_second_run_does_nothing(
        workspace, store, served, parts, tiny_cache):
    box = inbox.folder(workspace, create=True)
    now = time.time()
    drop(box, "a-late", parts["late"], at=now)  # named first, completed last: completion time decides
    drop(box, "b-early", parts["early"], at=now - 60)
    drop(box, "c-mid", parts["mid"], complete=False)  # still being copied: no marker
    drop(box, ".d-hidden", parts["mid"])  # still under its hidden name
    summary = inbox.process(workspace, store, activate="always", cache=tiny_cache, **UPDATE)

    assert names(summary["processed"]) == ["b-early", "a-late"]
    first, second = summary["processed"]
    assert first["parent"] == served["run_id"] and second["parent"] == first["run_id"]
    assert store.run(second["run_id"])["parent"] == first["run_id"]
    assert runs.active_run(store)["run_id"] == second["run_id"]
    assert {w["folder"] for w in summary["waiting"]} == {"c-mid", ".d-hidden"}
    assert summary["failed"] == [] and summary["already_consumed"] == [] and summary["stopped"] is None
    # Moved on with their record; the incomplete ones untouched; no claim left behind.
    for record in summary["processed"]:
        written = json.loads((Path(record["folder"]) / inbox.RESULT_FILE).read_text())
        assert written["run_id"] == record["run_id"] and written["activated"] is True
        assert Path(record["folder"]).parent == box / inbox.DONE
    assert sorted(p.name for p in box.iterdir()) == sorted([".d-hidden", ".inbox.lock", "c-mid", "done"])
    assert not (box / "c-mid" / inbox.MARKER).exists() and len(archived(workspace)) == 2

    again = inbox.process(workspace, store, activate="always", cache=tiny_cache, **UPDATE)
    assert again["processed"] == [] and again["already_consumed"] == [] and again["failed"] == []
    assert len(incremental_runs(store)) == 2 and len(archived(workspace)) == 2


def test_the_child_is_made_active_only_as_the_rule_says(workspace, store, served, parts, tiny_cache):
    box = inbox.folder(workspace, create=True)
    drop(box, "early", parts["early"], at=time.time() - 10)
    summary = inbox.process(workspace, store, activate="if-better", cache=tiny_cache, **UPDATE)
    (made,) = summary["processed"]
    better = made["metrics"]["auc"] >= made["parent_metrics"]["auc"]  # the guard, from the figures themselves
    assert made["better_than_parent"] is better and made["activated"] is better
    assert runs.active_run(store)["run_id"] == (made["run_id"] if better else served["run_id"])

    runs.activate_run(store, served["run_id"])
    drop(box, "tiny-dev-day", parts["mid"])  # a dev-day sample's name: it learnt from the day it is judged on
    (sample,) = inbox.process(workspace, store, activate="always", cache=tiny_cache, **UPDATE)["processed"]
    assert sample["activated"] is False and sample["activate"] == "never" and sample["parent"] == served["run_id"]
    assert runs.active_run(store)["run_id"] == served["run_id"]


def test_what_counts_as_complete(workspace, parts, tmp_path):
    box = inbox.folder(workspace, create=True)
    drop(box, "marked", parts["early"])
    drop(box, "renamed", parts["mid"], complete=False)
    drop(box, ".writing", parts["late"], complete=False)
    (box / "linked").symlink_to(parts["late"], target_is_directory=True)
    (box / "stray.zip").write_bytes(b"not a folder")
    marker = inbox.scan(box)
    assert marker["pending"] == ["marked"]
    assert {w["folder"]: w["reason"] for w in marker["waiting"]} == {
        ".writing": "being written (hidden name)", "linked": "a symbolic link: put the folder itself here",
        "renamed": "no _SUCCESS marker yet"}
    assert sorted(inbox.scan(box, ready="rename")["pending"]) == ["marked", "renamed"]


def test_rows_consumed_before_go_to_done_without_a_new_run(workspace, store, served, parts, tiny_cache):
    earlier = runs.update(workspace, store, served["run_id"], parts["early"], cache=tiny_cache, **UPDATE)
    box = inbox.folder(workspace, create=True)
    drop(box, "again", parts["early"])
    summary = inbox.process(workspace, store, cache=tiny_cache, **UPDATE)
    (seen,) = summary["already_consumed"]
    assert seen["consumed_by"] == earlier["run_id"] and summary["processed"] == []
    assert (box / inbox.DONE / "again" / inbox.RESULT_FILE).is_file() and len(incremental_runs(store)) == 1


# --------------------------------------------------------------------------------------------- failures


def test_a_bad_folder_fails_alone_with_its_reason(workspace, store, served, parts, tiny_cache):
    box = inbox.folder(workspace, create=True)
    bad = drop(box, "bad", parts["early"], at=time.time() - 60)
    (bad / "news.tsv").write_text("not a news file\n")
    drop(box, "good", parts["mid"])
    summary = inbox.process(workspace, store, activate="never", cache=tiny_cache, **UPDATE)
    assert names(summary["processed"]) == ["good"]
    (failed,) = summary["failed"]
    error = (box / inbox.FAILED / "bad" / inbox.ERROR_FILE).read_text()
    assert error.count("\n") == 1 and "news.tsv" in error and "no valid article rows" in error
    assert inbox.CLAIMED not in error and failed["error"] == error.strip()
    # Never retried on its own: the next run leaves it where it is.
    assert inbox.process(workspace, store, cache=tiny_cache, **UPDATE)["failed"] == []
    assert (box / inbox.FAILED / "bad" / "behaviors.tsv").is_file()


def test_bad_options_are_refused_before_anything_is_claimed(workspace, store, served, parts):
    box = inbox.folder(workspace, create=True)
    drop(box, "early", parts["early"])
    for options, reason in (({"run": "no-such-run"}, "unknown run"), ({"activate": "sometimes"}, "activate"),
                            ({"ready": "soon"}, "ready"), ({"epochs": 0}, "at least one epoch"),
                            ({"out": "x"}, "unknown update option")):
        with pytest.raises(InputError, match=reason):
            inbox.process(workspace, store, **options)
    with pytest.raises(InputError, match="no such inbox folder"):
        inbox.process(workspace, store, workspace.home / "nowhere")
    assert (box / "early" / inbox.MARKER).is_file() and not (box / inbox.CLAIMED).exists()


def test_a_problem_not_of_the_folder_returns_it_and_stops(workspace, store, served, parts, tiny_cache, monkeypatch):
    box = inbox.folder(workspace, create=True)
    drop(box, "early", parts["early"])

    def full_disk(*args, **kwargs):
        raise InputError("the update could not be written (no space left on device)", path=workspace.runs)

    monkeypatch.setattr(runs, "update", full_disk)
    summary = inbox.process(workspace, store, cache=tiny_cache, **UPDATE)
    assert "no space left" in summary["stopped"] and summary["failed"] == []
    assert (box / "early" / inbox.MARKER).is_file() and not (box / inbox.CLAIMED).exists()


# --------------------------------------------------------------------------------------------- overlap


def start_time_ms(pid: int) -> int:
    return round(psutil.Process(pid).create_time() * 1000)


def test_a_dead_processs_claim_is_returned_and_a_live_ones_kept(workspace, store, served, parts):
    box = inbox.folder(workspace, create=True)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = box / inbox.CLAIMED / f"{ended.pid}.1"
    shutil.copytree(parts["early"], dead / "left")  # no marker: returned, then it waits, costing no update
    reused = box / inbox.CLAIMED / f"{os.getppid()}.1"  # a live pid, but a later process than the claim's
    shutil.copytree(parts["mid"], reused / "reused")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            held = box / inbox.CLAIMED / f"{alive.pid}.{start_time_ms(alive.pid)}"
            shutil.copytree(parts["late"], held / "busy")
            summary = inbox.process(workspace, store)
            assert sorted(summary["recovered"]) == ["left", "reused"]
            assert {w["folder"] for w in summary["waiting"]} == {"left", "reused"}
            assert (box / "left" / "news.tsv").is_file() and not dead.exists() and not reused.exists()
            assert (held / "busy" / "news.tsv").is_file()
            states = {row["folder"]: row["state"] for row in inbox.listing(box)}
            assert states == {"left": "waiting", "reused": "waiting", "busy": "claimed"}
        finally:
            alive.kill()


def test_a_run_finding_the_lock_held_claims_nothing_and_says_so(workspace, store, served, parts):
    box = inbox.folder(workspace, create=True)
    drop(box, "early", parts["early"])
    with open(box / inbox.LOCK, "a+") as other:  # another open file: flock sees another holder
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.write("4242")
        other.flush()
        summary = inbox.process(workspace, store)
    assert "pid 4242" in summary["busy"] and "nothing claimed" in summary["busy"]
    assert summary["processed"] == [] and (box / "early" / inbox.MARKER).is_file()


@pytest.mark.slow  # two fresh interpreters import torch and update: ~40 s on a busy two-core machine
def test_two_overlapping_processes_consume_each_folder_exactly_once(workspace, store, served, parts, tiny_cache):
    box = inbox.folder(workspace, create=True)
    drop(box, "early", parts["early"], at=time.time() - 60)
    drop(box, "mid", parts["mid"])
    command = [sys.executable, "-m", "recengine", "update", "--inbox", str(box), "--json", "--epochs", "1",
               "--activate", "always", "--cache", str(tiny_cache.folder)]
    env = {**os.environ, "RECENGINE_HOME": str(workspace.home)}
    started = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    finished = [p.communicate(timeout=300) for p in started]
    assert [p.returncode for p in started] == [0, 0], [err[-2000:] for _, err in finished]
    summaries = [json.loads(out) for out, _ in finished]
    consumed = sorted(name for s in summaries for name in names(s["processed"] + s["already_consumed"]))
    assert consumed == ["early", "mid"]
    assert sorted(p.name for p in (box / inbox.DONE).iterdir()) == ["early", "mid"]
    assert len(incremental_runs(store)) == 2 and len(archived(workspace)) == 2
    busy = [s for s in summaries if s["busy"]]
    assert all("nothing claimed" in s["busy"] and s["processed"] == [] for s in busy)
    fingerprints = {json.loads((workspace.archive / e / "manifest.json").read_text())["fingerprint"]
                    for e in archived(workspace)}
    assert fingerprints == {input_fingerprint(parts["early"]), input_fingerprint(parts["mid"])}


# --------------------------------------------------------------------------------------------- faces


def test_the_cli_says_nothing_to_do_and_refuses_bad_input_in_one_line(workspace, store, served, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["update", "--inbox", str(empty)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    for argv, reason in ((["update", "--inbox", str(empty), "--new-data", str(empty)], "--new-data"),
                         (["update", "--inbox", str(tmp_path / "nowhere")], "no such inbox folder"),
                         (["update", "--inbox", str(empty), "--run", "nope"], "unknown run"),
                         (["update", "--run", "x"], "--new-data, --out")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert reason in err and len(err.splitlines()) == 1, err


def test_the_cli_exits_2_when_a_folder_failed_and_prints_json(workspace, store, served, parts, capsys):
    box = inbox.folder(workspace, create=True)
    bad = drop(box, "bad", parts["early"])
    (bad / "behaviors.tsv").unlink()
    assert main(["update", "--inbox", "--json", "--epochs", "1"]) == 2
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert names(printed["failed"]) == ["bad"] and printed["inbox"] == str(box.resolve())
    assert "failed: " in captured.err and "behaviors.tsv" in captured.err


def test_the_inbox_job_processes_the_inbox(workspace, store, served, parts, tiny_cache):
    box = inbox.folder(workspace, create=True)
    drop(box, "early", parts["early"])
    with pytest.raises(InputError, match="activate"):
        jobs.submit(workspace, store, "inbox", {"activate": "sometimes"}, start=False)
    job_id = jobs.submit(workspace, store, "inbox", {"activate": "never", "epochs": 1}, start=False)
    assert jobs.get(store, job_id)["estimate_seconds"] > 0
    job = jobs.run_job(workspace, store, job_id)
    assert job["status"] == "done", job.get("error")
    assert names(job["result"]["processed"]) == ["early"] and job["dataset"] == served["dataset"]
    assert job["result"]["processed"][0]["activated"] is False
    assert runs.active_run(store)["run_id"] == served["run_id"]
    assert (box / inbox.DONE / "early" / inbox.RESULT_FILE).is_file()
