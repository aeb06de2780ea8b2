"""The inbox section (New articles page, Live page): what the inbox holds, and a button that processes it as a job.

:func:`render` draws it; the work is :func:`recengine.app.inbox.process` run by an "inbox" job, so it survives
the page. Cron or a systemd timer runs the same thing (``recengine update --inbox``; see docs/schedule/).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _jobs, _ui
from recengine.app import inbox, runs
from recengine.data.store import Store
from recengine.workspace import Workspace

STATE_ORDER = ("pending", "claimed", "waiting", "failed", "done")


def render(workspace: Workspace, store: Store, *, origin: str = "new_articles") -> None:
    """The inbox's folders by state and the "Process the inbox" button; ``origin`` is the page drawing it (the
    job indicator links back to it)."""
    st.subheader("Inbox: scheduled updates")
    box = inbox.folder(workspace)
    st.caption(f"Drop a MIND folder (news.tsv and behaviors.tsv) into {_ui.literal(box)} and add an empty "
               f"{_ui.literal(inbox.MARKER)} file when it is complete. Each complete folder is folded into the "
               "active model once, oldest first, by the button below or by cron / a systemd timer running "
               "`recengine update --inbox`; the updated run becomes active only when it scores at least as well "
               "on dev. Done folders move to done/, failed ones to failed/ with their reason (move one back to "
               "retry it).")
    with _ui.boundary("reading the inbox"):
        rows = pd.DataFrame(inbox.listing(box), columns=["folder", "state", "detail", "time"])
        if rows.empty:
            st.info(f"The inbox is empty. {'' if box.is_dir() else 'It is made when first processed.'}",
                    icon=":material/inbox:")
        else:
            counts = rows["state"].value_counts()
            st.caption(" · ".join(f"{counts[s]} {s}" for s in STATE_ORDER if s in counts))
            rows["order"] = rows["state"].map(STATE_ORDER.index)
            _ui.show_table(rows.sort_values(["order", "time"]).drop(columns="order"),
                           ["folder", "state", "detail", "time"], key="inbox-folders", widths={"detail": "large"})
    active = runs.active_run(store)  # what cron updates too: the run every face starts with
    if st.button("Process the inbox", key="inbox-process", icon=":material/move_to_inbox:",
                 disabled=active is None, help="Update the active model "
                 f"({active['run_id'] if active else 'none yet'}) with every complete folder, as a background job "
                 "(2 epochs on the new rows); cron or another job running at the same time claims nothing and says "
                 "so."):
        _jobs.start("inbox", {}, origin=origin)
    _jobs.detail("inbox", active["dataset"] if active else None, on_done=show_result, key="inbox-job")


def show_result(job: dict) -> None:
    """A finished inbox job: what it processed, and what needs a look."""
    result = job["result"]
    if result["busy"]:
        st.info(f"Job {job['id']}: {_ui.literal(result['busy'])}.")
        return
    made = [f"{_ui.literal(p['run_id'])} ({'active' if p['activated'] else 'not made active'})"
            for p in result["processed"]]
    consumed = len(result["already_consumed"])
    if made or consumed:
        st.success(f"Job {job['id']} processed {len(made) + consumed} folder(s)"
                   + (f": runs {', '.join(made)}" if made else "")
                   + (f"; {consumed} already consumed before" if consumed else "") + ".")
    elif not (result["failed"] or result["stopped"]):
        st.info(f"Job {job['id']}: nothing to do (no complete folder in the inbox).")
    for failed in result["failed"]:
        st.warning(f"{_ui.literal(failed['folder'])} failed: {_ui.literal(failed['error'])}")
    if result["stopped"]:
        st.error(_ui.literal(result["stopped"]), icon=":material/error:")
