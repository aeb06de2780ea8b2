"""Jobs: long work in a detached ``python -m recengine jobs run ID`` process, its state in the store.

Real subprocesses on the tiny preset with the hashing embedder: a training job runs, saves and registers its run;
a cancelled one leaves no run folder and no run row; a SIGKILLed one is marked failed with its last message; the
CLI lists, shows and cancels the same jobs; bad parameters are refused before anything is recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from recengine.app import datasets, estimate, jobs
from recengine.app.experiments import PartEvent
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.errors import InputError, JobCancelled
from recengine.train.trainer import TrainEvent
from recengine.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 240  # a job's process imports torch; a busy two-core machine is slow at that


def config(epochs: int = 1, **train) -> dict:
    return RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=epochs, **train)).to_dict()


# Long enough to be caught running (an epoch on tiny takes well under a second), cut short by the tests.
LONG = {"epochs": 500, "patience": 500}


@pytest.fixture
def tiny(store, tiny_data: Path) -> str:
    """The tiny dataset recorded in the test's store; returns its store name."""
    return datasets.resolve(store, tiny_data)["name"]


@dataclass
class Finished:
    workspace: Workspace
    store: Store
    dataset: str
    job_id: int
    estimate_before: estimate.Estimate  # a 3-epoch training, before any run existed


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Iterator[Finished]:
    """One 2-epoch training started by ``train --background`` in a workspace of its own (read-only for the
    tests; they wait for it to end)."""
    workspace = Workspace(tmp_path_factory.mktemp("finished"))
    with Store(workspace.store_path) as store:
        name = datasets.resolve(store, tiny_data)["name"]
        before = estimate.training(store, name, epochs=3)
        started = cli("train", "--background", "--data", str(tiny_data), "--out", str(workspace.runs / "cli-run"),
                      "--embedder", "hashing", "--epochs", "2", home=workspace.home)
        assert started.returncode == 0, started.stderr
        assert started.stderr.startswith("estimated ~") and "jobs show" in started.stderr
        yield Finished(workspace, store, name, json.loads(started.stdout)["job_id"], before)


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECENGINE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "recengine", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=WAIT_S)


def wait_for(condition, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)
    return value


def first_epoch(store, job_id: int) -> None:
    """Wait until the job has recorded a finished epoch, so it is surely inside its training."""

    def reached() -> bool:
        job = jobs.get(store, job_id)
        assert job["status"] in jobs.ACTIVE, f"the job ended early: {job}"
        return any(e["kind"] == "epoch" for e in jobs.events(store, job_id))

    wait_for(reached, "first epoch")


def test_training_job_runs_in_its_own_process_and_registers_its_run(finished):
    workspace, store, job_id = finished.workspace, finished.store, finished.job_id
    job = jobs.get(store, job_id)
    assert job["origin"] == "cli" and job["estimate_seconds"] > 0

    done = jobs.wait(store, job_id, timeout=WAIT_S)
    assert done["status"] == "done", done["error"]
    assert done["progress"] == 1.0 and done["error"] is None and done["started_at"] and done["finished_at"]
    run = store.run(done["result"]["run_id"])
    assert run is not None and run["dataset"] == finished.dataset
    assert Path(run["path"]) == workspace.runs / "cli-run" and (Path(run["path"]) / "weights.safetensors").is_file()
    assert run["config"]["train"]["epochs"] == 2
    epochs = [e for e in jobs.events(store, job_id) if e["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    saved = json.loads((Path(run["path"]) / "history.json").read_text())
    assert [e["loss"] for e in epochs] == pytest.approx([h["train_loss"] for h in saved])
    assert [e["metrics"]["auc"] for e in epochs] == pytest.approx([h["valid"]["auc"] for h in saved])
    assert {e["metrics"]["split"] for e in epochs} == {h["split"] for h in saved} == {"validation"}
    assert f"job {job_id} done" in jobs.log_path(workspace, job_id).read_text()


def test_cancelled_job_leaves_no_run(workspace, store, tiny, cli_main):
    job_id = jobs.submit(workspace, store, "train", {"dataset": tiny, "config": config(**LONG)})
    first_epoch(store, job_id)
    pid = jobs.get(store, job_id)["pid"]

    result = cli_main("jobs", "cancel", str(job_id), "--wait", home=workspace.home)  # the job is a process of its own

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "cancelled"
    job = jobs.get(store, job_id)
    assert job["status"] == "cancelled" and job["cancel_requested"] and job["result"] is None
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
             "the job's process to end", timeout=30)
    assert store.runs() == []
    assert not workspace.runs.exists() or list(workspace.runs.iterdir()) == []  # no folder, no reservation


def test_killed_job_is_marked_failed_with_its_last_message(workspace, store, tiny):
    job_id = jobs.submit(workspace, store, "train", {"dataset": tiny, "config": config(**LONG)})
    first_epoch(store, job_id)
    pid = jobs.get(store, job_id)["pid"]
    assert pid != os.getpid() and psutil.Process(pid).cmdline()[-3:] == ["jobs", "run", str(job_id)]
    assert os.getsid(pid) == pid  # a session of its own: it outlives whoever started it

    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
             "the killed process to end", timeout=30)
    last = jobs._query(store, "SELECT message FROM jobs WHERE id = ?", (job_id,))[0]["message"]

    [listed] = jobs.list_jobs(store)  # listing is what notices the dead process

    assert listed["status"] == "failed" and listed["finished_at"]
    assert "ended without finishing" in listed["error"] and last in listed["error"] and "epoch" in last
    assert store.runs() == []


def test_a_queued_job_whose_process_has_not_exec_d_yet_is_starting_not_dead(workspace, store, tiny):
    """Between fork and exec the child shows its parent's command line; reconcile must not fail the job then
    (it did, under load, in the browser test), but does once the start grace period is over."""
    job_id = jobs.submit(workspace, store, "train", {"dataset": tiny, "config": config()}, start=False)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        jobs._write(store, "UPDATE jobs SET pid = ? WHERE id = ?", (stranger.pid, job_id))
        assert jobs.reconcile(store) == [] and jobs.get(store, job_id)["status"] == "queued"
        jobs._write(store, "UPDATE jobs SET created_at = '2020-01-01T00:00:00' WHERE id = ?", (job_id,))
        assert jobs.reconcile(store) == [job_id] and jobs.get(store, job_id)["status"] == "failed"
    finally:
        stranger.kill()
        stranger.wait()


def test_cli_lists_shows_and_refuses(finished, cli_main):
    """The commands through the CLI's main in this process (the job they read ran in a process of its own)."""
    store, job_id, home = finished.store, finished.job_id, finished.workspace.home
    jobs.wait(store, job_id, timeout=WAIT_S)

    listed = cli_main("jobs", "list", "--json", home=home)
    shown = cli_main("jobs", "show", str(job_id), home=home)
    table = cli_main("jobs", "list", home=home)
    done_cancel = cli_main("jobs", "cancel", str(job_id), home=home)
    unknown = cli_main("jobs", "show", "99", home=home)

    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["kind"], row["status"], row["dataset"], row["progress"]) == (
        job_id, "train", "done", finished.dataset, 1.0)
    detail = json.loads(shown.stdout)
    assert detail["result"]["run_id"] == store.runs()[0]["run_id"]
    assert [e["epoch"] for e in detail["events"] if e["kind"] == "epoch"] == [1, 2]
    assert detail["log"] == str(jobs.log_path(finished.workspace, job_id))
    assert table.returncode == 0 and " train " in table.stdout and " done " in table.stdout
    for refused, text in ((done_cancel, "is done"), (unknown, "unknown job 99")):
        assert refused.returncode == 2 and refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1 and text in refused.stderr


@pytest.mark.parametrize("kind, params, message", [
    ("train", {"dataset": "nowhere", "config": config()}, "unknown dataset 'nowhere'"),
    ("train", {"dataset": "tiny", "config": config(epochs=0)}, "epochs"),
    ("train", {"dataset": "tiny", "config": config(), "colour": "red"}, "unknown job parameter(s): colour"),
    ("compare", {"dataset": "tiny", "grid": {"fusions": [], "temperatures": [0.1], "losses": ["bce"], "seeds": [0]},
                 "base_config": config()}, "at least one of fusions"),
    ("saturation", {"dataset": "tiny", "epochs": -1}, "'epochs'"),
    ("embed", {"dataset": "tiny", "embedder": "word2vec"}, "unknown embedder"),
    ("update", {"parent": "no-such-run", "new_data": "/nowhere"}, "unknown run"),
    ("sleep", {}, "unknown job kind 'sleep'"),
])
def test_bad_parameters_are_refused_before_anything_is_recorded(workspace, store, tiny, kind, params, message):
    with pytest.raises(InputError) as refused:
        jobs.submit(workspace, store, kind, params)
    assert message in str(refused.value)
    assert jobs.list_jobs(store) == []


def test_reporter_throttles_steps_but_keeps_every_epoch(workspace, store, tiny):
    job_id = jobs.submit(workspace, store, "train", {"dataset": tiny, "config": config(epochs=2)}, start=False)
    reporter = jobs.Reporter(store, job_id, interval=3600.0)

    reporter(TrainEvent("step", epoch=1, epochs=2, step=1, steps=10, loss=0.9))
    reporter(TrainEvent("step", epoch=1, epochs=2, step=5, steps=10, loss=0.8))  # within the interval: not written
    after_steps = jobs.get(store, job_id)
    reporter(TrainEvent("epoch", epoch=1, epochs=2, step=10, steps=10, loss=0.7, metrics={"auc": 0.6},
                        split="validation"))

    assert after_steps["progress"] == pytest.approx(0.05) and "step 1/10" in after_steps["message"]
    job = jobs.get(store, job_id)
    assert job["progress"] == pytest.approx(0.5) and "validation AUC 0.6000" in job["message"]
    assert [(e["kind"], e["epoch"], e["loss"], e["metrics"]) for e in jobs.events(store, job_id)] == [
        ("epoch", 1, 0.7, {"auc": 0.6, "split": "validation"})]


def test_reporter_follows_the_parts_of_an_experiment(workspace, store, tiny):
    job_id = jobs.submit(workspace, store, "train", {"dataset": tiny, "config": config()}, start=False)
    reporter = jobs.Reporter(store, job_id)

    reporter(PartEvent(2, 4, "attention · τ 0.1", TrainEvent("epoch", epoch=1, epochs=2, loss=0.5)))

    job = jobs.get(store, job_id)
    assert job["progress"] == pytest.approx(1.5 / 4)
    assert job["message"] == "attention · τ 0.1 · finished epoch 1/2 · loss 0.5000"
    assert jobs.events(store, job_id)[-1]["label"] == "attention · τ 0.1 · "


def test_cancel_is_noticed_at_the_next_event(workspace, store, tiny):
    job_id = jobs.submit(workspace, store, "train", {"dataset": tiny, "config": config()}, start=False)
    reporter = jobs.Reporter(store, job_id)
    reporter.cancelled = True

    reporter(TrainEvent("done", epoch=1))  # the run is saved by then: too late to stop
    with pytest.raises(JobCancelled):
        reporter(TrainEvent("step", epoch=1, epochs=1, step=1, steps=2))


def test_estimate_uses_the_measured_throughput_of_the_last_run(finished):
    store = finished.store
    job = jobs.wait(store, finished.job_id, timeout=WAIT_S)
    run = store.run(job["result"]["run_id"])
    meta = json.loads((Path(run["path"]) / "meta.json").read_text())
    history = json.loads((Path(run["path"]) / "history.json").read_text())

    after = estimate.training(store, finished.dataset, epochs=3)

    before = finished.estimate_before
    assert "assumed 1,300 samples/s" in before.basis
    rate = meta["samples_seen"] / meta["train_seconds"]
    assert after.seconds == pytest.approx(estimate.STARTUP_SECONDS + 3 * meta["samples_seen"] / len(history) / rate)
    assert f"{rate:,.0f} samples/s measured over the last 1 run(s) on this dataset" == after.basis
    # The job's own estimate (2 epochs, no history yet) was made the same way as the 3-epoch one before it.
    assert job["estimate_seconds"] == pytest.approx(before.seconds * 2 / 3 + estimate.STARTUP_SECONDS / 3)


def test_embedding_job_from_the_cli_fills_the_cache_and_measures_its_speed(workspace, store, tiny, tiny_data,
                                                                          cli_main):
    # The commands through the CLI's main in this process; the job they start runs in a process of its own.
    started = cli_main("embed", "--background", "--data", tiny_data, "--embedder", "hashing", home=workspace.home)
    refused = cli_main("embed", "--background", "--only-cached", "--data", tiny_data, "--embedder", "hashing",
                       home=workspace.home)

    assert started.returncode == 0, started.stderr
    assert "no embedding measured yet: assumed 3,600 articles/s with hashing" in started.stderr
    job = jobs.wait(store, json.loads(started.stdout)["job_id"], timeout=WAIT_S)
    assert job["status"] == "done", job["error"]
    articles = store.dataset(tiny)["summary"]["articles"]
    assert job["result"]["articles"] == job["result"]["newly_embedded"] == articles
    assert job["result"]["coverage"] == 1.0 and any((workspace.cache / "embeddings").iterdir())
    rate, basis = estimate.embedding_rate("hashing", jobs.finished_embeddings(store))
    assert rate == pytest.approx(articles / job["result"]["seconds"])
    assert basis.endswith("articles/s measured over the last 1 embedding job(s)")
    assert refused.returncode == 2 and "--only-cached" in refused.stderr and refused.stdout == ""
