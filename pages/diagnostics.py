"""Diagnostics: logit and sigmoid distributions of the active run on a split, saturation, gradient norms by
module, fusion weights per view, and the saturation demonstration of seeds/001."""

import streamlit as st

from pages import _jobs, _ui
from recengine import plots
from recengine.app import experiments


@st.cache_data(show_spinner="Scoring the split…", max_entries=8)
def diagnostics(path: str, changed: int, split: str) -> dict:
    """Everything the page shows for one run on one split (keyed on the run folder and its stamp)."""
    loaded = _ui.loaded_run(path)
    return experiments.diagnostics(_ui.workspace(), _ui.store(), loaded, split=split)


_ui.frame()
st.title("Diagnostics")
run = _ui.require_run()
st.caption(f"Model {_ui.literal(run['run_id'])} on dataset {_ui.literal(run['dataset'])}")

split = st.segmented_control("Split", ["dev", "train"], default="dev", key="diagnostics-split",
                             help="Dev articles never seen in training are scored zero-shot, as in evaluation.")
scale = st.segmented_control(
    "Outputs", ["raw", "calibrated"], default="raw", key="diagnostics-scale",
    help="Raw: the logits the loss saw (a listwise loss leaves their level arbitrary, so their sigmoid can sit "
    "near 1 without harming the ranking). Calibrated: sigmoid(scale × logit + shift), fitted on training "
    "impressions after training: the click probabilities the product shows.",
)
with _ui.boundary("computing the diagnostics"):
    report = diagnostics(run["path"], _ui.stamp(run["path"]), split or "dev")
    logits = report["calibrated"] if scale == "calibrated" else report["logits"]
    balance = report["label_balance"]
    if scale == "calibrated":
        fit = report["calibration"]
        st.caption(f"Calibration: p = σ({_ui.fmt(fit['scale'], 3)} × logit + {_ui.fmt(fit['shift'], 3)}), "
                   f"fitted on {fit['candidates']:,} training candidates.")
    cols = st.columns(5)
    cols[0].metric("Candidates", f"{logits['candidates']:,}")
    cols[1].metric("Click rate", _ui.percent(balance["click_rate"]))
    cols[2].metric("Saturated (σ < 0.01 or > 0.99)", _ui.percent(logits["saturated_share"]),
                   help="Where the sigmoid's gradient has all but vanished.")
    cols[3].metric("Pinned at exactly 0 or 1", _ui.percent(logits["pinned_share"]),
                   help="In float32: no gradient flows at all.")
    cols[4].metric("Logit mean ± std",
                   f"{_ui.fmt(logits['logits']['all']['mean'], 2)} ± {_ui.fmt(logits['logits']['all']['std'], 2)}")
    loss = _ui.loaded_run(run["path"]).recommender.config.train.loss
    if scale != "calibrated" and loss != "bce" and (logits["saturated_share"] or 0) > 0.5:
        st.info(f"This model was trained with the {loss} loss, which compares the candidates of an impression with "
                "each other: the level of its raw logits is arbitrary, so a raw sigmoid near 1 does not mean "
                "training stalled (the gradient norms below show whether it did). Choose **calibrated** to read "
                "click probabilities.", icon=":material/info:")
    left, right = st.columns(2)
    left.plotly_chart(plots.logit_histogram(logits), key="logits")
    right.plotly_chart(plots.sigmoid_histogram(logits), key="sigmoid")
    left.plotly_chart(plots.gradient_norms_chart(report["gradient_norms"]), key="grad-norms")
    right.plotly_chart(plots.fusion_weights_chart(report["fusion_weights"]), key="fusion-weights")

st.subheader("Calibration against the truth")
reliability = (run["metrics"] or {}).get("reliability")
if reliability is None:
    st.info("This run was evaluated before reliability curves existed: evaluate it again (on Home or "
            "Evaluation) to draw them.", icon=":material/info:")
else:
    st.plotly_chart(plots.reliability_chart(reliability), key="reliability")
    eces = {kind: reliability[kind] for kind in ("raw", "calibrated") if reliability.get(kind)}
    figures = "; ".join(f"{kind}: {_ui.fmt(c['ece_vs_truth'], 4)} vs truth, {_ui.fmt(c['ece_vs_observed'], 4)} "
                        "vs observed" for kind, c in eces.items())
    st.caption(
        f"Dev candidates sorted by predicted click probability and cut into {reliability['bins']} bins of equal "
        "size; each point is a bin's mean prediction against, **vs truth**, the mean true click probability the "
        "synthetic world drew the clicks from (only a synthetic world knows it), and, **vs observed**, the "
        "share of the bin's candidates that were clicked (all real data has; it also carries the luck of the "
        "draw). On the dotted diagonal the predictions are right. The expected calibration error (ECE) is the "
        f"mean gap between a bin's prediction and its target, weighted by candidates: {figures}."
    )

st.subheader("Saturation demonstration")
st.markdown(
    "An earlier system (seeds/001) scored with a **raw dot product** of ReLU'd vectors: logits of 84–113, every "
    "sigmoid exactly 1.0, and a loss that did not move, while its accuracy looked fine because 96% of candidates "
    "are non-clicks. Its first fix, cosine × 10, still saturated; **cosine / temperature** with a moderate "
    "temperature (its ×2) fixed it. This trains all three settings on the active dataset (nothing is saved) and "
    "shows what their predictions look like."
)
labels = {
    "broken": "Broken: raw dot product, sigmoid then BCE",
    "x10": "×10: cosine / 0.1",
    "fixed": "Fixed: cosine / 0.5",
}
_jobs.estimate_caption(run["dataset"], 2, trainings=3, what="Three trainings, each")
with st.form("saturation"):
    epochs = st.number_input("Epochs per setting", min_value=1, max_value=20, value=2,
                             help="Three trainings run one after the other; on the demo preset an epoch takes "
                                  "a while.")
    start = st.form_submit_button("Run the demonstration", icon=":material/science:")
if start:
    _jobs.start("saturation", {"dataset": run["dataset"], "epochs": int(epochs),
                               "embedder": run["config"]["model"]["embedder"]}, origin="diagnostics")
_jobs.detail("saturation", run["dataset"],
             on_done=lambda job: st.success("Demonstration finished; its result is kept in the store."))

shown = None
with _ui.boundary("reading the demonstration"):
    shown = experiments.latest_saturation(_ui.store(), run["dataset"])
if shown:
    demo = shown["result"]
    st.caption(f"Last demonstration on {_ui.literal(run['dataset'])}: {shown['created_at'][:16].replace('T', ' ')} "
               f"UTC, {shown['params']['epochs']} epoch(s) per setting, {_ui.literal(shown['params']['embedder'])} "
               "text vectors.")
    st.plotly_chart(plots.saturation_chart(demo), key="saturation-chart")
    for col, (name, result) in zip(st.columns(len(demo)), demo.items()):
        with col, st.container(border=True):
            st.markdown(f"**{labels.get(name, name)}**")
            after = result["after"]
            a, b = st.columns(2)
            a.metric("Final loss", _ui.fmt(result["loss"][-1] if result["loss"] else None))
            aucs, split = experiments.saturation_aucs(result)
            b.metric(f"{split.capitalize()} AUC", _ui.fmt(aucs[-1] if aucs else None))
            a.metric("Pinned at 0 or 1", _ui.percent(after["pinned_share"]))
            b.metric("Largest logit", _ui.fmt(after["logits"]["all"]["max"], 1),
                     help=f"The logits range from {_ui.fmt(after['logits']['all']['min'], 1)} to "
                          f"{_ui.fmt(after['logits']['all']['max'], 1)}.")
            st.plotly_chart(plots.sigmoid_histogram(after), key=f"saturation-sigmoid-{name}")
