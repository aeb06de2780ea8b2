"""Long work in the dashboard: starting a job, the job indicator in every page's sidebar, and the detail (live
progress, loss and dev AUC per epoch, a cancel button, the outcome) on the page that started it.

The work itself runs in a job's own process (:mod:`recengine.app.jobs`) and its state lives in the store, so a
page switch, a reload or a restarted dashboard loses nothing: every view here is drawn from the store (but the
loss of the latest batches, which the job does not keep: the live curve samples it while it is watched). Running
jobs are polled by fragments (``st.fragment(run_every=...)``), which redraw only themselves; when a job ends they
rerun the page once, so that what it made (a run, a comparison, a demonstration) shows at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from pages import _ui
from recengine import plots
from recengine.app import estimate, jobs, tasks
from recengine.app.references import selection_references
from recengine.app.first_start import ready

PAGES = Path(__file__).parent
POLL_S = 1.5  # seconds between two looks at a running job
STARTED_KEY = "jobs_started"  # ids of the jobs this session started
DISMISSED_KEY = "jobs_dismissed"  # ids of finished jobs whose outcome this session has put away
SEEN_KEY = "jobs_seen_running"  # ids this session has watched run (their end reruns the page once)
CURVES = ("train", "update")  # kinds with one training, whose epochs make a curve


def title(job: dict) -> str:
    return tasks.get(job["kind"]).title


def start(kind: str, params: dict, *, origin: str) -> int | None:
    """Start a job from the page ``origin`` (its URL path); a refusal shows as one readable message. Returns the
    job id, or None when it was refused."""
    with _ui.boundary(f"starting the {tasks.get(kind).title}") as started:
        job_id = jobs.submit(_ui.workspace(), _ui.store(), kind, params, origin=origin)
    if not started.ok:
        return None
    st.session_state.setdefault(STARTED_KEY, []).append(job_id)
    return job_id


def started_here(job: dict) -> bool:
    """Whether this browser session started ``job``."""
    return job["id"] in st.session_state.get(STARTED_KEY, [])


def estimate_caption(dataset: str, epochs: int, *, trainings: int = 1, what: str = "One training") -> None:
    """Under a form: how long the work will take on this machine, before it is started. A form's values are not
    known until it is submitted, so the caption gives the time per epoch beside the default's total; the job
    records its own estimate, from the values submitted, when it starts."""
    store, epochs = _ui.store(), max(int(epochs), 1)
    one = estimate.training(store, dataset, epochs)
    total = estimate.training(store, dataset, epochs, trainings=trainings)
    per_epoch = (one.seconds - estimate.STARTUP_SECONDS) / epochs
    st.caption(f"{what}: {_ui.literal(estimate.duration(per_epoch))} per epoch on {_ui.literal(dataset)}; "
               f"{_ui.literal(estimate.duration(total.seconds))} in all with {epochs} epoch{'s' * (epochs != 1)} "
               f"({_ui.literal(total.basis)}).")


# --------------------------------------------------------------------------------------------- sidebar


def indicator() -> None:
    """The sidebar's job indicator: each running job with its progress and a link to where it was started."""
    if jobs.active_jobs(_ui.store()):
        _live_indicator()


@st.fragment(run_every=POLL_S)
def _live_indicator() -> None:
    running = jobs.active_jobs(_ui.store())
    if not running:
        st.rerun()  # the last one ended: the page shows what it made
    st.caption(f"{len(running)} job(s) running")
    for job in running:
        st.progress(job["progress"], text=f"{title(job)} · {_ui.literal(job['message'])}")
        if job["origin"] and (PAGES / f"{job['origin']}.py").is_file():
            st.page_link(f"pages/{job['origin']}.py", label=f"Job {job['id']}: details", icon=":material/work:")
        else:
            st.caption(f"Job {job['id']}, started from the {_ui.literal(job['origin'] or 'command line')}")


# --------------------------------------------------------------------------------------------- detail


def detail(kind: str, dataset: str | None, *, on_done: Callable[[dict], None] | None = None,
           key: str = "job") -> dict | None:
    """The newest job of ``kind`` (on ``dataset``): live while it runs; afterwards its outcome (``on_done(job)``
    draws a finished job's result) until dismissed. Returns the job shown, or None."""
    job = jobs.latest(_ui.store(), kind, dataset=dataset)
    if job is None or job["id"] in st.session_state.get(DISMISSED_KEY, []):
        return None
    if job["status"] in jobs.ACTIVE:
        _live(job["id"])
    else:
        _outcome(job, on_done, key)
    return job


@st.fragment(run_every=POLL_S)
def _live(job_id: int) -> None:
    job = jobs.get(_ui.store(), job_id)
    seen = st.session_state.setdefault(SEEN_KEY, [])
    if job["status"] not in jobs.ACTIVE:
        if job_id in seen:
            seen.remove(job_id)
            st.rerun()  # the page shows the outcome and whatever the job made
        return
    if job_id not in seen:
        seen.append(job_id)
    with st.container(border=True):
        st.markdown(f"**{title(job).capitalize()}** · job {job_id} · {job['status']}")
        st.progress(job["progress"], text=_ui.literal(job["message"]))
        st.caption(_timing(job))
        if job["kind"] in CURVES:
            live_curves(job)
        if job["cancel_requested"]:
            st.caption("Cancelling: the job stops at its next progress report and saves nothing.")
        elif st.button("Cancel", key=f"job-{job_id}-cancel", icon=":material/cancel:"):
            with _ui.boundary("cancelling the job"):
                jobs.cancel(_ui.store(), job_id)


def _timing(job: dict) -> str:
    elapsed = jobs.elapsed_seconds(job)
    ran = "starting" if elapsed is None else f"running for {estimate.duration(elapsed).lstrip('~')}"
    if job["estimate_seconds"] is None:
        return ran
    return (f"{ran} of an estimated {estimate.duration(job['estimate_seconds'])} "
            f"({_ui.literal(job['estimate_basis'] or '')})")


def live_curves(job: dict) -> None:
    """A running training's curves: the epochs so far, the latest batches' loss (sampled at each look, kept
    for this session) and, for a training, random and the oracle from its dataset before any epoch ends."""
    history = curve(jobs.events(_ui.store(), job["id"]))  # read before the job's message: see step_sample
    sample = step_sample(jobs.get(_ui.store(), job["id"])["message"], len(history))
    steps = st.session_state.setdefault(f"job-{job['id']}-steps", [])
    if sample and (not steps or sample[0] > steps[-1][0]):
        steps.append(sample)
    references = train_references(job["params"]) if job["kind"] == "train" else {}
    _ui.chart(plots.training_curves(history, steps=steps, **curve_references(references)),
              key=f"job-{job['id']}-curves")
    st.caption(curve_caption(references, live=True))


# The Reporter writes a step's progress as jobs.describe words it ("epoch 1/2 · step 11/40 · loss 0.6931");
# step losses are not kept as events, so the live curve samples the message at each look.
_STEP = re.compile(r"epoch \d+/\d+ · step (\d+)/(\d+) · loss ([-+0-9.eE]+)$")


def step_sample(message: str, epochs_done: int) -> tuple[float, float] | None:
    """(epochs done, loss) from a job's message while it is inside an epoch; None otherwise. ``epochs_done``
    counts the finished epochs, read before the message (an epoch that ends in between leaves a message that
    is no step, so a sample is never placed an epoch late)."""
    found = _STEP.search(message or "")
    if found is None:
        return None
    step, steps, loss = int(found[1]), int(found[2]), float(found[3])
    return epochs_done + step / max(steps, 1), loss


@st.cache_data(show_spinner=False, max_entries=16)
def _references(path: str, changed: int, select_on: str, fraction: float, seed: int) -> dict:
    return selection_references(_ui.dataset(path), select_on=select_on, validation_fraction=fraction, seed=seed)


def train_references(params: dict) -> dict:
    """Random and oracle AUC for a training job's dataset and selection split ({} when it cannot tell)."""
    record = _ui.store().dataset(params.get("dataset") or "")
    train = (params.get("config") or {}).get("train") or {}
    if record is None or "select_on" not in train:
        return {}
    with _ui.boundary("measuring random and the oracle") as measured:
        found = _references(record["path"], _ui.stamp(record["path"]), train["select_on"],
                            float(train["validation_fraction"]), int(train.get("seed", 0)))
    return found if measured.ok else {}


def curve_references(references: dict) -> dict:
    """:func:`train_references` as keyword arguments of :func:`recengine.plots.training_curves`."""
    return {"random_auc": references.get("random_auc"), "oracle_auc": references.get("oracle_auc"),
            "random_split": references.get("split"), "oracle_split": references.get("oracle_split"),
            "split": references.get("split")}


def curve_caption(references: dict, *, live: bool = False) -> str:
    """What the curves show, in words: which split the AUC is on and where the references come from."""
    split = references.get("split") or "selection"
    words = ["Loss: one point per finished epoch" + (", and a dotted line of the latest batches' loss while an "
                                                       "epoch runs" if live else "") + ".",
             f"AUC on the {split} split, which picks the best epoch (1 = perfect ranking, 0.5 = chance)."]
    if references.get("random_auc") is not None:
        words.append(f"Random: random scores on the same {split} split.")
    if references.get("oracle_auc") is not None:
        where = ("on the same split" if references.get("oracle_split") == split
                 else f"measured on {references.get('oracle_split')}, the only split with them")
        words.append(f"Oracle: the true click probabilities of this synthetic world, {where}.")
    return " ".join(words)


def curve(events: list[dict]) -> list[dict]:
    """Epoch milestones as the history :func:`recengine.plots.training_curves` draws (numbered in order, so an
    update's two phases follow each other)."""
    epochs = [e for e in events if e["kind"] == "epoch"]
    history = []
    for n, e in enumerate(epochs, 1):
        metrics = dict(e["metrics"] or {})
        history.append({"epoch": n, "train_loss": e["loss"], "split": metrics.pop("split", "dev"), "valid": metrics})
    return history


def _outcome(job: dict, on_done: Callable[[dict], None] | None, key: str) -> None:
    with st.container(border=True):
        if job["status"] == "done":
            if on_done is not None:
                on_done(job)
            else:
                st.success(f"The {title(job)} (job {job['id']}) finished.")
        elif job["status"] == "failed":
            st.error(f"The {title(job)} (job {job['id']}) failed: {_ui.literal(job['error'] or 'no message')}",
                     icon=":material/error:")
        else:
            st.info(f"The {title(job)} (job {job['id']}) was cancelled; nothing was saved.")
        elapsed = jobs.elapsed_seconds(job)
        took = "" if elapsed is None else f" · took {estimate.duration(elapsed).lstrip('~')}"
        st.caption(f"Started {job['created_at'].replace('T', ' ')} UTC{took}")
        if st.button("Dismiss", key=f"{key}-{job['id']}-dismiss"):
            st.session_state.setdefault(DISMISSED_KEY, []).append(job["id"])
            st.rerun()


# --------------------------------------------------------------------------------------------- first start


def first_start() -> bool:
    """Whether the workspace has its default dataset and model. When it has not, start the first-start job (or
    join the one another session started), show its progress and say False: the page stops there and is drawn
    again when the job ends. A failed first start shows its error and a button to try again."""
    store = _ui.store()
    if ready(store) is not None:
        return True
    job = jobs.latest(store, "bootstrap")
    if job is None or job["status"] == "done":  # done, yet not ready: the defaults were deleted since
        job_id = start("bootstrap", {}, origin="home")
        if job_id is None:
            return False  # refused, and start said why
        job = jobs.get(store, job_id)
    st.title("recengine")
    st.subheader("First start: preparing the demo workspace")
    st.caption("A dataset is generated and embedded and the default model trained, once; the next start is "
               "instant. This runs in the background: reloading or closing the page does not stop it.")
    if job["status"] in jobs.ACTIVE:
        _live(job["id"])
    elif job["status"] in ("failed", "cancelled"):
        st.error(f"The first start {job['status']}: {_ui.literal(job['error'] or 'cancelled')}")
        if st.button("Try again", icon=":material/refresh:"):
            start("bootstrap", {}, origin="home")
            st.rerun()
    return False

