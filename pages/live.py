"""Live: the new-article quality monitor over the HTTP service's logged traffic (new vs old CTR, zero-shot
coverage, the A/B arms), the update jobs it triggered, and a button that runs the check now."""

import pandas as pd
import streamlit as st

from pages import _inbox, _ui
from recengine import formats, plots
from recengine.app import monitor

WINDOWS = {"last hour": 1.0, "last 6 hours": 6.0, "last 24 hours": 24.0, "last 7 days": 168.0}
SERVE = "python -m recengine serve --host 127.0.0.1 --port 8000"
REFRESH_S = 30


@st.cache_data(ttl=REFRESH_S, show_spinner="Reading the live traffic…", max_entries=16)
def overview(dataset: str, hours: float, threshold: float, min_items: int) -> tuple[dict, pd.DataFrame]:
    """The monitor's report and hourly CTR, read at most every REFRESH_S seconds per setting (the bootstraps
    over a busy day's impressions take seconds)."""
    return monitor.overview(_ui.store(), dataset, hours=hours, threshold=threshold, min_items=min_items)


def _ctr(block: dict) -> str:
    return "—" if block["ctr"] is None else formats.share(block["ctr"], 2)


def _interval(block: dict) -> str:
    if block["ci"] is None:
        return "nothing shown"
    return f"95% CI {formats.share(block['ci'][0], 2)} – {formats.share(block['ci'][1], 2)}, {block['items']:,} items"


def tiles(result: dict) -> None:
    """New CTR, old CTR, the ratio against the threshold, coverage."""
    cols = st.columns(4)
    cols[0].metric("New articles CTR", _ctr(result["new"]), help=f"Clicks per shown item the serving run had not "
                   f"trained on. {_interval(result['new'])}.")
    cols[1].metric("Old articles CTR", _ctr(result["old"]), help=f"Clicks per shown item the serving run trained "
                   f"on. {_interval(result['old'])}.")
    ratio = "—" if result["ratio"] is None else f"{result['ratio']:.2f}"
    delta = (None if result["ratio"] is None
             else f"{result['ratio'] - result['threshold']:+.2f} vs {result['threshold']:g}")
    cols[2].metric("New / old", ratio, delta=delta, help="The monitor triggers an update below the threshold, once "
                   f"each group has {result['min_items']:,} items. " + (
                       "" if result["ratio_ci"] is None else
                       "95% bootstrap CI over impressions {:.2f} – {:.2f}.".format(*result["ratio_ci"])))
    cover = result["coverage"]
    shown = "—" if cover["new_articles"] is None else f"{cover['new_shown']:,} / {cover['new_articles']:,}"
    cols[3].metric("New articles shown", shown, help="Articles the serving run(s) had not trained on that were "
                   "shown at least once in the window, of all such articles in the catalogue.")


def arm_table(result: dict) -> None:
    frame = pd.DataFrame([{key: arm[key] for key in ("arm", "run_id", "impressions", "items", "clicks")}
                          | {"click_rate": arm["ctr"], "ci_low": arm["ci"][0] if arm["ci"] else None,
                             "ci_high": arm["ci"][1] if arm["ci"] else None} for arm in result["arms"]])
    _ui.show_table(frame, ["arm", "run_id", "impressions", "click_rate", "ci_low", "ci_high"], key="live-arms",
                   kinds={"click_rate": "share", "ci_low": "share", "ci_high": "share"})
    if (difference := result["arm_difference"]) is not None:
        interval = "" if difference["ci"] is None else " (95% CI {:+.2%} to {:+.2%})".format(*difference["ci"])
        st.caption(f"CTR of B minus A: {difference['difference']:+.2%}{interval}, p = "
                   f"{formats.p_value(difference['p_value'])} ({_ui.literal(difference['test'])}).")


def jobs_table() -> None:
    found = monitor.monitor_jobs(_ui.store(), limit=10)
    if not found:
        st.caption("No update job from the monitor yet.")
        return
    rows = [{"id": job["id"], "status": job["status"], "created_at": job["created_at"],
             "run": (job["result"] or {}).get("run_id"),
             "better": (job["result"] or {}).get("better_than_parent"),
             "message": job["error"] or job["message"]} for job in found]
    _ui.show_table(pd.DataFrame(rows), ["id", "status", "created_at", "run", "better", "message"], key="live-jobs")


_ui.frame()
st.title("Live")
st.caption(f"What the HTTP service served and what readers clicked: CTR per shown item for articles the serving run "
           "had not trained on (new) against the rest (old). Below the threshold ratio, with enough data, the "
           "monitor exports the traffic and starts an incremental update; a finished update becomes the active "
           f"model only if it beats its parent. Figures are at most {REFRESH_S} s old.")
record = _ui.require_dataset()
c = st.columns([2, 1, 1])
span = c[0].selectbox("Window", list(WINDOWS), index=2, help="Wall-clock hours before now.")
threshold = c[1].number_input("Threshold (new / old)", min_value=0.05, max_value=5.0, value=0.7, step=0.05,
                              help="Seed 000 §5.2: update when new articles' CTR falls below 0.7 × the old ones'.")
min_items = c[2].number_input("Min items per group", min_value=1, max_value=1_000_000, value=200, step=50,
                              help="Items each group needs before the ratio counts.")
options = {"dataset": record["name"], "hours": WINDOWS[span], "threshold": float(threshold),
           "min_items": int(min_items)}

if st.button("Check now and update if needed", type="primary", icon=":material/sync:",
             help="Runs the monitor's check: it may activate a finished update that beat its parent, and submits an "
                  "update job when new articles fall below the threshold (the job runs in the background)."):
    with _ui.boundary("checking the live traffic") as done:
        checked = monitor.check(_ui.workspace(), _ui.store(), **options)
    if done.ok:
        st.session_state["live-check"] = checked
if checked := st.session_state.get("live-check"):
    st.info(_ui.literal(checked["reason"][:1].upper() + checked["reason"][1:] + "."), icon=":material/sync:")
    if checked["activation"]:
        st.caption(_ui.literal(checked["activation"]))

with _ui.boundary("reading the live traffic") as read:
    result, hourly = overview(**options)
if read.ok:
    if not result["traffic"]:
        st.info("No traffic logged in this window yet. Start the service and send it requests: recommendations "
                "are logged as impressions, and clicks reported to POST /v1/clicks mark them clicked.",
                icon=":material/info:")
    tiles(result)
    left, right = st.columns(2)
    with left:
        _ui.chart(plots.ctr_timeline_chart(hourly, result["threshold"]), key="live-timeline")
    with right:
        _ui.chart(plots.arm_ctr_chart(result["arms"]), key="live-arms-chart")
    if result["arms"]:
        arm_table(result)

st.subheader("Updates the monitor started")
with _ui.boundary("reading the monitor's jobs"):
    jobs_table()

st.subheader("The service")
st.caption("Start the HTTP service on the active run (add --challenger RUN for an A/B split); the same report is at "
           "GET /v1/monitor?hours=24. From cron, `python -m recengine monitor` runs this check.")
st.code(SERVE, language="bash")

_inbox.render(_ui.workspace(), _ui.store(), origin="live")
