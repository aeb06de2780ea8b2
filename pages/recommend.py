"""Recommend: pick a reader of the active dataset, see their history and the two-stage top-k with scores and
each view's contribution."""

import pandas as pd
import streamlit as st

from pages import _ui
from recengine.tables import recommendations_table

MAX_OPTIONS = 1000
REQUEST = "recommend_request"

_ui.frame()
st.title("Recommend")
run = _ui.require_run()
store = _ui.store()
st.caption("Two stages: the reader's vector recalls the nearest articles from the FAISS index, then the full model "
           "reranks them. History is read from the store at request time, so live clicks count without retraining.")

users = store.users(run["dataset"])
search = st.text_input("Find a reader", placeholder="user id or part of it", key="reader-search")
matches = users[users["user_id"].str.contains(search.strip(), case=False, regex=False)] if search.strip() else users
options = matches["user_id"].head(MAX_OPTIONS).tolist()
st.caption(f"{len(matches):,} of {len(users):,} readers match" +
           (f"; the first {MAX_OPTIONS:,} are listed" if len(matches) > MAX_OPTIONS else ""))

with st.form("recommend"):
    c = st.columns([3, 3, 1, 1])
    listed = c[0].selectbox("Reader", options, index=0 if options else None, placeholder="no reader matches")
    typed = c[1].text_input("…or any user id", placeholder="an id not in the data is a new reader")
    k = c[2].number_input("k", min_value=1, max_value=100, value=10, step=1, help="How many articles (1–100).")
    candidates = c[3].number_input("Recalled", min_value=10, max_value=1000, value=200, step=10,
                                   help="Articles recalled from the index before the model reranks them.")
    if st.form_submit_button("Recommend", type="primary", icon=":material/recommend:"):
        st.session_state[REQUEST] = {"user": typed.strip() or listed, "k": int(k), "candidates": int(candidates)}

request = st.session_state.get(REQUEST)
if not request or not request["user"]:
    st.stop()
with _ui.boundary("recommending") as done:
    service = _ui.service(run["path"], run["dataset"])
    profile = service.user_profile(request["user"])
    items = service.recommend(request["user"], request["k"], candidates=request["candidates"])
if not done.ok:
    st.stop()

st.subheader("Reader")
st.text(profile["user_id"])
if not profile["known"]:
    st.info("This id is not in the dataset: it is treated as a brand-new reader, who gets the popularity prior "
            "until they click. Try the Cold start page to give one interests.")
elif not profile["in_training"]:
    st.caption("Seen only after training (a cold user): the model reads their history but has no ID vector for them.")
if profile["history"]:
    st.markdown(f"**History** (oldest first, the last {len(profile['history'])} the model reads)")
    st.dataframe(pd.DataFrame(profile["history"]), hide_index=True)

st.subheader(f"Top {request['k']}")
table = recommendations_table(items)
if table.empty:
    st.warning("Nothing to recommend: every article is already in this reader's history.")
else:
    st.dataframe(table, hide_index=True,
                 column_config={"probability": st.column_config.ProgressColumn("probability", min_value=0.0,
                                                                               max_value=1.0, format="%.3f")})
    st.caption("score: the model's logit; recall_score: cosine in the first stage; contribution_<view>: how much the "
               "logit drops when that view of the article is replaced by its neutral value (positive: the view "
               "pushed the article up); top_view: the view whose removal costs most.")
