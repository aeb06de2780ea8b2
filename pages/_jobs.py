"""Long work in the dashboard: starting a job, the job indicator in every page's sidebar, and the detail (live
progress, loss and dev AUC per epoch, a cancel button, the outcome) on the page that started it.

The work itself runs in a job's own process (:mod:`recengine.app.jobs`) and its state lives in the store, so a
page switch, a reload or a restarted dashboard loses nothing: every view here is drawn from the store. Running
jobs are polled by fragments (``st.fragment(run_every=...)``), which redraw only themselves; when a job ends they
rerun the page once, so that what it made (a run, a comparison, a demonstration) shows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from pages import _ui
from recengine import plots
from recengine.app import estimate, jobs, tasks
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
               f"{_ui.literal(estimate.duration(total.seconds))} in all with {epochs} epoch(s) "
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
            history = curve(jobs.events(_ui.store(), job_id))
            if history:
                st.plotly_chart(plots.training_curves(history), key=f"job-{job_id}-curves")
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

