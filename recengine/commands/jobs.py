"""``jobs``: long work (training, updates, compare grids, the saturation demonstration, embedding, the first
start) running in the background, as recorded in the workspace store; the dashboard shows the same jobs.

``jobs list`` shows them newest first (a job whose process died is marked failed first), ``jobs show ID`` one
job with its milestones (each epoch's loss and dev AUC), ``jobs cancel ID`` stops one: its process stops at its
next progress report and leaves no partial run. ``recengine train --background`` starts a training as a job.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jobs", help="list, show or cancel background jobs", description=__doc__)
    # "run" is how a job's own process starts; it is left out of the listed actions.
    actions = parser.add_subparsers(dest="action", metavar="{list,show,cancel}", required=True)
    listing = actions.add_parser("list", help="jobs, newest first")
    listing.add_argument("--status", default=None, help="only jobs with this status (queued, running, done, ...)")
    listing.add_argument("--kind", default=None, help="only jobs of this kind (train, update, compare, ...)")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="one job: parameters, progress, result or error, milestones")
    show.add_argument("job_id", type=int, help="job id (see `jobs list`)")
    show.set_defaults(handler=run_show)
    stop = actions.add_parser("cancel", help="stop a queued or running job")
    stop.add_argument("job_id", type=int, help="job id")
    stop.add_argument("--wait", action="store_true", help="return once the job has stopped")
    stop.set_defaults(handler=run_cancel)
    work = actions.add_parser("run")
    work.add_argument("job_id", type=int)
    work.set_defaults(handler=run_job)


def _open():
    from recengine.app import open_workspace

    return open_workspace()


def summary(job: dict) -> dict:
    """The columns a list shows."""
    from recengine.app.jobs import elapsed_seconds

    elapsed = elapsed_seconds(job)
    return {
        "id": job["id"], "kind": job["kind"], "status": job["status"], "dataset": job["dataset"],
        "progress": round(job["progress"], 3), "message": job["error"] or job["message"],
        "created_at": job["created_at"], "elapsed_s": None if elapsed is None else round(elapsed, 1),
        "estimate_s": None if job["estimate_seconds"] is None else round(job["estimate_seconds"], 1),
    }


def run_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from recengine.app import jobs

    if args.limit < 1:
        from recengine.errors import InputError

        raise InputError(f"--limit must be at least 1, got {args.limit}")
    _, store = _open()
    with store:
        rows = [summary(job) for job in jobs.list_jobs(store, status=args.status, kind=args.kind, limit=args.limit)]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no jobs yet: `recengine train --background ...` starts one, and so do the dashboard's pages")
    else:
        table = pd.DataFrame(rows)
        table["progress"] = [f"{p:.0%}" for p in table["progress"]]
        table["message"] = [m if len(m) <= 60 else m[:57] + "..." for m in table["message"]]
        print(table.drop(columns=["estimate_s"]).to_string(index=False))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from recengine.app import jobs

    workspace, store = _open()
    with store:
        job = jobs.get(store, args.job_id)
        job["events"] = jobs.events(store, args.job_id)
    job["elapsed_seconds"] = jobs.elapsed_seconds(job)
    job["log"] = str(jobs.log_path(workspace, args.job_id))
    print(json.dumps(job, indent=2, default=str))
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    from recengine.app import jobs

    _, store = _open()
    with store:
        job = jobs.cancel(store, args.job_id)
        if args.wait:
            job = jobs.wait(store, args.job_id)
    print(json.dumps(summary(job), indent=2))
    return 0


def run_job(args: argparse.Namespace) -> int:
    """The job's own process: run it and record how it ended (its output goes to the job's log)."""
    from recengine.app import jobs

    workspace, store = _open()
    with store:
        job = jobs.run_job(workspace, store, args.job_id)
    print(f"job {job['id']} {job['status']}" + (f": {job['error']}" if job["error"] else ""), file=sys.stderr)
    return 0 if job["status"] == "done" else 1


def say_estimate(store, dataset, epochs: int) -> None:
    """``estimated ~N min (how)`` on stderr, before a training starts."""
    from recengine.app import datasets, estimate

    name = datasets.resolve(store, dataset)["name"]
    print(estimate.training(store, name, epochs).text(), file=sys.stderr)


def start_training(args: argparse.Namespace, config) -> int:
    """``train --background``: the training as a job."""
    return start_job("train", {"dataset": str(args.data), "config": config.to_dict(), "out": str(args.out),
                               "force": args.force, "cache": None if args.cache is None else str(args.cache)})


def start_embedding(args: argparse.Namespace) -> int:
    """``embed --background``: the embedding as a job."""
    if args.only_cached:
        from recengine.errors import InputError

        raise InputError("--only-cached computes nothing: it has no use with --background")
    return start_job("embed", {"dataset": str(args.data), "embedder": args.embedder, "fields": args.fields,
                               "cache": args.cache})


def start_job(kind: str, params: dict) -> int:
    """Start a job from the command line: its estimate on stderr, its id as JSON on stdout; returns at once."""
    from recengine.app import jobs, open_workspace
    from recengine.app.estimate import duration

    workspace, store = open_workspace()
    with store:
        job_id = jobs.submit(workspace, store, kind, params, origin="cli")
        job = jobs.get(store, job_id)
    print(f"estimated {duration(job['estimate_seconds'])} ({job['estimate_basis']}); follow it with "
          f"`python -m recengine jobs show {job_id}`", file=sys.stderr)
    print(json.dumps({"job_id": job_id, "status": job["status"], "estimate_s": round(job["estimate_seconds"], 1),
                      "log": str(jobs.log_path(workspace, job_id))}, indent=2))
    return 0
