"""Diagnostics: logit and sigmoid distributions of the active run on a split, saturation, gradient norms by
module, fusion weights per view, reliability, and the saturation demonstration."""

import pandas as pd
import streamlit as st

from pages import _jobs, _ui
from recengine import formats, plots
from recengine.app import experiments
from recengine.config import TrainConfig

# Below this share, saturation is a curiosity; from it on, the page says what it means for this model.
NOTICEABLE = 0.05
# The demonstration's settings: a short name (legend, table, charts), a title and one plain sentence.
SETTINGS = {
    "broken": ("raw dot product", "Raw dot product, sigmoid, then BCE",
               "Scores grow without bound, so the sigmoid pins at 1 and the loss stops moving."),
    "x10": ("cosine / 0.1", "Cosine / 0.1",
            "Scores up to ±10, so it starts saturated and has to climb out."),
    "fixed": ("cosine / 0.5", "Cosine / 0.5",
              "Scores stay within ±2, so the sigmoid cannot saturate."),
}
DEFINITIONS = (
    "Two words used below. **Saturated**: the sigmoid of a score is below 0.01 or above 0.99; the curve is almost "
    "flat there, so a loss computed on the sigmoid's output barely moves the score. **Pinned**: the sigmoid is "
    "*exactly* 0 or 1 in 32-bit floats, the extreme case of saturated: the curve is perfectly flat and no "
    "gradient flows through it at all. Every pinned prediction is also saturated."
)


@st.cache_data(show_spinner="Scoring the split…", max_entries=8)
def diagnostics(path: str, changed: int, split: str) -> dict:
    """Everything the page shows for one run on one split (keyed on the run folder and its stamp)."""
    loaded = _ui.loaded_run(path)
    return experiments.diagnostics(_ui.workspace(), _ui.store(), loaded, split=split)


def saturation_note(logits: dict, click_rate: float | None, scale: str, train: TrainConfig) -> str | None:
    """What a noticeable saturated share means for this model, or None when the share is small."""
    share = logits["saturated_share"] or 0
    if share < NOTICEABLE:
        return None
    if scale == "calibrated":
        return (f"{_ui.percent(share)} of the calibrated probabilities are below 1% or above 99%: confident "
                f"predictions, not a fault (with clicks on {_ui.percent(click_rate)} of candidates, many readers "
                "are unlikely to click many articles). Calibration is fitted after training and changes no ranking; "
                "the reliability chart below shows whether such probabilities come true.")
    spread = _ui.fmt(logits["logits"]["all"]["std"], 2)
    note = (f"{_ui.percent(share)} of these predictions are saturated. **Ranking:** AUC, MRR and nDCG compare the "
            f"logits of an impression's candidates with each other, and the logits still differ (spread ± {spread}), "
            "so saturation does not change the ranking metrics. **Probabilities:** a raw sigmoid near 1 is not a "
            f"click probability (only {_ui.percent(click_rate)} of candidates are clicked); choose **calibrated** "
            "to read probabilities. **Training:** ")
    if train.loss == "bce" and train.bce_on_probabilities:
        return note + ("this model computes its loss on the sigmoid's output, so the gradient passes through the "
                       "flat part of the curve and all but vanishes: training stalls, as in the raw dot product "
                       "setting of the demonstration below.")
    if train.loss == "bce":
        return note + ("the BCE loss reads the logits, so a confident wrong prediction still gets a strong "
                       "gradient; saturation does not stall training.")
    return note + (f"the {train.loss} loss compares the candidates of an impression on their logits and never "
                   "reads the sigmoid, so the level of the logits is free and saturation does not slow training "
                   "(the gradient norms below show the gradient flowing).")



def demonstration(record: dict) -> None:
    """The last demonstration: what each setting is, a table of its final numbers, its sigmoid outputs."""
    summary = experiments.saturation_summary(record)
    st.markdown("\n".join(f"- **{SETTINGS[name][1]}**: {SETTINGS[name][2]}" for name in summary["settings"]
                          if name in SETTINGS))
    frame = pd.DataFrame.from_dict(summary["settings"], orient="index").drop(columns="auc_split")
    frame.insert(0, "setting", [SETTINGS.get(name, (name,))[0] for name in frame.index])
    _ui.show_table(frame, ["setting", "final_loss", "auc", "saturated_share", "pinned_share", "logit_max"],
                   key="saturation-table", kinds={"final_loss": "number", "logit_min": "number",
                                                  "logit_max": "number", "best_epoch": "count"})
    split = experiments.saturation_aucs(next(iter(record["result"].values())))[1]
    st.caption(f"Final loss: the training loss in the last epoch (lower is better). AUC, on the {split} split: how "
               "often a clicked article is ranked above a non-clicked one (0.5 is chance, 1 perfect). Saturated and "
               "pinned: shares of dev predictions, as defined at the top of the page. Logit max: the largest score "
               "before the sigmoid.")
    for col, (name, result) in zip(st.columns(len(record["result"])), record["result"].items()):
        with col:
            _ui.chart(plots.sigmoid_histogram(result["after"], compact=True, title=SETTINGS.get(name, (name,))[0]),
                      key=f"saturation-sigmoid-{name}")
    st.caption("Each setting's sigmoid outputs on dev after training, with the share beyond each saturation line; "
               "blue bars are non-clicks and orange hatched bars clicks, as in the histograms above.")

_ui.frame()
st.title("Diagnostics")
run = _ui.require_run()
st.caption(f"Model {_ui.literal(run['run_id'])} on dataset {_ui.literal(run['dataset'])}")
st.markdown("A look inside the model: how its scores are spread, whether its gradients flow, how it weighs its "
            "views, and whether its probabilities come true.")
with st.expander("Why this exists"):
    st.markdown(
        "An earlier system (seeds/001) scored with a raw dot product: every sigmoid was exactly 1.0 and its loss "
        "did not move, while its accuracy looked fine because 96% of candidates are non-clicks. Nothing on its "
        "dashboard showed it. This page shows the score distributions, the gradient per module and the "
        "calibration of every run, so such a failure is visible at a glance."
    )
st.markdown(DEFINITIONS)

split = st.segmented_control("Split", ["dev", "train"], default="dev", key="diagnostics-split",
                             help="Dev: the held-out day, scored as in evaluation; train: the days the model "
                                  "learned from.")
scale = st.segmented_control(
    "Outputs", ["raw", "calibrated"], default="raw", key="diagnostics-scale",
    help="Raw: the model's scores as it learned them; calibrated: the same scores rescaled after training so "
         "that they read as click probabilities.",
)
with _ui.boundary("computing the diagnostics"):
    report = diagnostics(run["path"], _ui.stamp(run["path"]), split or "dev")
    logits = report["calibrated"] if scale == "calibrated" else report["logits"]
    balance = report["label_balance"]
    if scale == "calibrated":
        fit = report["calibration"]
        st.caption(f"Calibrated probability = sigmoid({_ui.fmt(fit['scale'])} × logit + {_ui.fmt(fit['shift'])}), "
                   f"fitted on {formats.count(fit['candidates'])} training candidates after training.")
    # Two rows of three: five or six tiles in one row cut their labels and values at 1024 px.
    top, bottom = st.columns(3), st.columns(3)
    top[0].metric("Candidates", formats.count(logits["candidates"]),
                  help="Articles shown to readers in this split's impressions, each scored once.")
    top[1].metric("Click rate", _ui.percent(balance["click_rate"]), help="Share of the candidates that were clicked.")
    top[2].metric("Logit mean", _ui.fmt(logits["logits"]["all"]["mean"], 2),
                  help="The average of the model's scores before the sigmoid.")
    bottom[0].metric("Saturated", _ui.percent(logits["saturated_share"]),
                     help="Share of predictions whose sigmoid is below 0.01 or above 0.99, where the curve is "
                          "almost flat.")
    bottom[1].metric("Pinned at 0 or 1", _ui.percent(logits["pinned_share"]),
                     help="Share of predictions whose sigmoid is exactly 0 or 1 in 32-bit floats, where no "
                          "gradient flows at all.")
    bottom[2].metric("Logit spread", _ui.fmt(logits["logits"]["all"]["std"], 2),
                     help="The standard deviation of the scores before the sigmoid: how far apart they are.")
    note = saturation_note(logits, balance["click_rate"], scale,
                           _ui.loaded_run(run["path"]).recommender.config.train)
    if note:
        st.info(note, icon=":material/info:")
    left, right = st.columns(2)
    with left:
        _ui.chart(plots.logit_histogram(logits), key="logits")
        st.caption("Scores before the sigmoid, clicks and non-clicks each scaled to sum to 1. Outside the dashed "
                   "lines the sigmoid is saturated.")
    with right:
        _ui.chart(plots.sigmoid_histogram(logits), key="sigmoid")
        st.caption("The same scores after the sigmoid, with the share beyond each saturation line. Clicks "
                   "sitting to the right of non-clicks is what ranking needs.")
    _ui.chart(plots.gradient_norms_chart(report["gradient_norms"]), key="grad-norms")
    st.caption("How strongly each part of the network was updated per training step, averaged over an epoch "
               "(log scale: each grid step is ten times the one below). A module near zero is not learning.")
    _ui.chart(plots.fusion_weights_chart(report["fusion_weights"]), key="fusion-weights")
    st.caption("How much the model relies on each view of an article (its id, its text, its entities) when it "
               "combines them; compare articles seen in training with never-seen ones, which have no learned "
               "id.")

st.subheader("Calibration against the truth")
reliability = (run["metrics"] or {}).get("reliability")
if reliability is None:
    st.info("This run was evaluated before reliability curves existed: evaluate it again (on Home or "
            "Evaluation) to draw them.", icon=":material/info:")
else:
    _ui.chart(plots.reliability_chart(reliability), key="reliability")
    st.caption(
        f"Dev candidates sorted by predicted click probability and cut into {reliability['bins']} bins of equal "
        "size. Each point is a bin's mean prediction against the true click probability the synthetic world drew "
        "the clicks from (only a synthetic world knows it) and against the share of the bin that was clicked "
        "(all real data has it; it also carries the luck of the draw). On the dotted diagonal, perfect "
        "calibration, predictions come true. The expected calibration error (ECE, in each panel's corner) is "
        "the average gap between prediction and outcome: 0 is perfect."
    )

st.subheader("Saturation demonstration")
st.markdown(
    "Trains three ways of scoring on the active dataset (nothing is saved) and shows how saturated their "
    "predictions get: a **raw dot product**, which saturates and stops learning, and **cosine similarity divided "
    "by a temperature** at two temperatures."
)
with st.expander("Why this exists"):
    st.markdown(
        "It reproduces seeds/001: its raw dot product of ReLU'd vectors gave logits of 84–113 and every sigmoid "
        "exactly 1.0. Its first fix, cosine × 10 (cosine / 0.1 here), still started saturated; cosine × 2 "
        "(cosine / 0.5) fixed it. Our default model also uses cosine / 0.1, but with a listwise loss that reads "
        "the logits, not the sigmoid, so it is not slowed by saturation."
    )
_jobs.estimate_caption(run["dataset"], 2, trainings=3, what="Three trainings, each")
with st.form("saturation"):
    epochs = st.number_input("Epochs per setting", min_value=1, max_value=20, value=2,
                             help="How many passes over the training data each of the three settings gets; "
                                  "they run one after the other.")
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
    st.caption(f"Last demonstration on {_ui.literal(run['dataset'])}: {formats.timestamp(shown['created_at'])} "
               f"UTC, {shown['params']['epochs']} epoch(s) per setting, {_ui.literal(shown['params']['embedder'])} "
               "text vectors.")
    _ui.chart(plots.saturation_chart(demo, {name: short for name, (short, *_) in SETTINGS.items()}),
              key="saturation-chart")
    st.caption("Left: the training loss on a log scale, so a loss stuck at 50 and one falling below 1 are both "
               "readable. Right: the share of saturated dev predictions after each epoch.")
    demonstration(shown)
