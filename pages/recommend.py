"""Recommend: choose a reader of the active dataset (from the list, or by typing any id), see their history and the
two-stage top-k with scores and each view's contribution."""

import pandas as pd
import streamlit as st

from pages import _ui
from recengine.tables import RECOMMENDATION_KEYS, recommendations_table

MAX_OPTIONS = 1000
REQUEST = "recommend_request"
PICK, TYPE = "Pick from the readers of this dataset", "Type any user id"
SCORES = {"probability": "metric", "score": "metric", "popularity_score": "metric", "recall_score": "metric"}


def reader_input(dataset: str) -> tuple[str, str | None]:
    """The one input that chooses the reader: a pick from the dataset's readers, or a typed id. Returns
    (how, user id or None)."""
    how = st.radio("Choose the reader by", (PICK, TYPE), horizontal=True, key="reader-how",
                   help="Pick a reader who has clicks in this dataset, or type any id: an id the dataset does not "
                        "know is a brand-new reader.")
    if how == TYPE:
        typed = st.text_input("User id", placeholder="e.g. U1234, or a new id for a brand-new reader",
                              key="reader-typed", help="Any id; one not in the data is treated as a new reader.")
        return how, typed.strip() or None
    users = _ui.store().users(dataset)
    search = st.text_input("Filter the readers", placeholder="user id or part of it", key="reader-search",
                           help="Narrows the list below to ids containing this text.")
    matches = users[users["user_id"].str.contains(search.strip(), case=False, regex=False)] if search.strip() \
        else users
    options = matches["user_id"].head(MAX_OPTIONS).tolist()
    listed = st.selectbox("Reader", options, index=0 if options else None, placeholder="no reader matches",
                          key="reader-listed", help="A reader of the active dataset.")
    st.caption(f"{len(matches):,} of {len(users):,} readers match" +
               (f"; the first {MAX_OPTIONS:,} are listed" if len(matches) > MAX_OPTIONS else ""))
    return how, listed


def explain(model_list: bool) -> None:
    """What the columns mean, for the list shown (the model's, or the popularity prior's)."""
    if model_list:
        st.caption("Probability: the model's calibrated chance that the reader clicks the article. Top view: the "
                   "view (ID, text, knowledge graph) whose removal lowers the score most. Shown with all columns: "
                   "score, the model's logit (probability before calibration); recall score, the cosine between "
                   "reader and article in the first stage; contribution per view, how much the logit drops when "
                   "that view of the article is replaced by its neutral value (positive: it pushed the article "
                   "up).")
    else:
        st.caption("Popularity score: log(1 + the article's clicks in the last hours) plus a bonus for articles "
                   "first seen recently; the same list for every new reader. Clicks: the clicks it counts. The "
                   "model is not used: there is no history to read yet.")


_ui.frame()
st.title("Recommend")
run = _ui.require_run()
st.caption("Two stages: the reader's vector recalls the nearest articles from the FAISS index, then the full model "
           "reranks them. History is read from the store at request time, so live clicks count without retraining.")

how, chosen = reader_input(run["dataset"])
with st.form("recommend"):
    c = st.columns(2)
    k = c[0].number_input("k", min_value=1, max_value=100, value=10, step=1,
                          help="How many articles to recommend (1–100).")
    candidates = c[1].number_input("Recalled", min_value=10, max_value=1000, value=200, step=10,
                                   help="How many articles the first stage recalls from the index for the model to "
                                        "rerank (10–1,000); more finds more candidates but is slower.")
    if st.form_submit_button("Recommend", type="primary", icon=":material/recommend:"):
        st.session_state[REQUEST] = {"user": chosen, "how": how, "k": int(k), "candidates": int(candidates)}

request = st.session_state.get(REQUEST)
if request and not request["user"]:
    st.info("Choose a reader first: pick one from the list or type an id.")
if not request or not request["user"]:
    st.stop()
with _ui.boundary("recommending") as done:
    service = _ui.service(run["path"], run["dataset"])
    profile = service.user_profile(request["user"])
    items = service.recommend(request["user"], request["k"], candidates=request["candidates"])
if not done.ok:
    st.stop()

origin = "picked from the list" if request["how"] == PICK else "typed"
st.subheader(f"Top {request['k']} for reader {_ui.literal(profile['user_id'])}")
st.caption(f"Reader {_ui.literal(profile['user_id'])}, {origin}. Change the reader above and press Recommend "
           "again to see another.")
if not profile["known"]:
    st.info("This id is not in the dataset: it is treated as a brand-new reader, who gets the popularity prior "
            "until they click. Try the Cold start page to give one interests.")
elif not profile["in_training"]:
    st.caption("Seen only after training (a cold user): the model reads their history but has no ID vector for them.")

table = recommendations_table(items)
if table.empty:
    st.warning("Nothing to recommend: every article is already in this reader's history.")
else:
    model_list = "probability" in table.columns
    _ui.show_table(table, RECOMMENDATION_KEYS["model" if model_list else "popularity"], key="recommendations",
                   kinds={c: "metric" for c in table.columns if c in SCORES or c.startswith("contribution_")},
                   widths={"title": "medium"})
    explain(model_list)

if profile["history"]:
    st.markdown(f"**History** (oldest first, the last {len(profile['history'])} the model reads)")
    _ui.show_table(pd.DataFrame(profile["history"]), ["title", "category"], key="reader-history")
