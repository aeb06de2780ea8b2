"""Cold start: play a brand-new reader (interests from the category list or a sentence), read some of the
recommendations, and watch the list and a measured indicator change."""

import pandas as pd
import streamlit as st

from pages import _ui
from recengine import formats, plots
from recengine.app import serving
from recengine.tables import article_topic, category_counts, interest_overlap

READER = "cold_reader"
K = 10


def read(item: dict) -> None:
    """A click on 'Read': remember it (this session only) and the indicator before it."""
    reader = st.session_state[READER]
    reader["previous"] = reader.get("current")
    reader["clicks"].append({key: item[key] for key in ("article_id", "title", "category", "subcategory")})


def describe(item: dict) -> str:
    """An item's category (with its subcategory when it has one), the interest it serves, and what ranked it: the
    model's score, or the popularity prior's score (the list's order) with the clicks it counted."""
    why = f" · for {item['reason']}" if item.get("reason") else ""
    ranked = (f"score {formats.metric(item['score'])}" if item["source"] == "model"
              else f"prior {formats.metric(item['score'])} · {formats.count(item.get('clicks', 0))} clicks")
    return f"{article_topic(item['category'], item['subcategory'])}{why} · {ranked}"


_ui.frame()
st.title("Cold start")
run = _ui.require_run()
st.caption("A reader the model has never seen: no ID vector, no history. Each picked category and each clause of "
           "the sentence is one interest with its own ranking, and the list interleaves them in equal shares; "
           f"clicks are one more source whose share grows as n / (n + {serving.CLICKS_CROSSOVER:g}) with n clicks, "
           "so what you said fades but "
           "never vanishes. With neither, the popularity prior answers. No title appears twice. Clicks stay in "
           "this browser session: nothing is written to the store.")

with _ui.boundary("starting the recommender") as ready:
    service = _ui.service(run["path"], run["dataset"])
    counts = category_counts(service.catalog.frame["category"])
if not ready.ok:
    st.stop()

with st.form("reader"):
    chosen = st.multiselect("Interests from the category list", sorted(c for c in counts if c),
                            help="Categories the new reader cares about; the list starts from them.")
    text = st.text_area("…and/or in your own words", placeholder="I follow Formula 1 and central banks", height=80,
                        help="A sentence about the reader's interests, read by the same text model as the articles.")
    if st.form_submit_button("Start as a new reader", type="primary", icon=":material/person_add:"):
        st.session_state[READER] = {"categories": chosen, "text": text.strip(), "clicks": [], "current": None,
                                    "previous": None}

reader = st.session_state.get(READER)
if reader is None:
    st.stop()

with _ui.boundary("recommending") as done:
    items = serving.cold_start(service, categories=reader["categories"], interest_text=reader["text"],
                               clicks=[c["article_id"] for c in reader["clicks"]], k=K)
if not done.ok:
    st.stop()

source = "the popularity prior (no interests, no clicks yet)" if items and items[0]["source"] == "popularity" \
    else "the model"
st.subheader("Your recommendations")
stated = [*reader["categories"], *([reader["text"]] if reader["text"] else [])]
st.caption(f"From {source}; {len(reader['clicks'])} click(s) so far. Interests stated: "
           f"{'; '.join(stated) if stated else '(none)'}")

picked = interest_overlap(items, reader["categories"], counts)
clicked = interest_overlap(items, [c["category"] for c in reader["clicks"]], counts)
reader["current"] = picked["share"]
cols = st.columns(3)
cols[0].metric("In your categories", _ui.percent(picked["share"]),
               help="Share of the recommendations whose category is one you picked.")
cols[1].metric("A random list", _ui.percent(picked["base_rate"]),
               help="Share of the catalogue in the categories you picked: what a random list would score on "
                    "average.")
cols[2].metric("In what you read", _ui.percent(clicked["share"]),
               help="Share of the recommendations in the categories of the articles you clicked.")
if reader["previous"] is not None:
    st.caption(f"Before your last click: {_ui.percent(reader['previous'])} in the categories you picked.")
st.caption("What this measures: how closely the list follows the interests you stated and the articles you read, "
           "against the chance level. It is not a click-through prediction: a reader invented here has no ground "
           "truth to score against.")

st.caption("Beside each article: its category, the interest it serves (a picked category, a clause of your "
           "sentence, or your clicks) and what ranked it: the model's score, or the popularity prior's score "
           "log(1 + clicks) + freshness, which orders that list, with the clicks it counted.")
for item in items:
    with st.container(border=True):
        title_col, meta_col, button_col = st.columns([5, 3, 2], vertical_alignment="center")
        title_col.text(item["title"])
        meta_col.text(describe(item))
        button_col.button("Read", key=f"read-{item['article_id']}", on_click=read, args=(item,))

if reader["clicks"]:
    st.subheader("What you read")
    _ui.show_table(pd.DataFrame(reader["clicks"]), ["title", "category"], key="cold-clicks")
if st.button("Start over", icon=":material/restart_alt:"):
    del st.session_state[READER]
    st.rerun()

st.subheader("Measured: how each way of stating interests does as clicks arrive")
with _ui.boundary("reading the cold-start benchmark") as measured:
    curve = serving.cold_start_curve()
if measured.ok:
    for metric, column in zip(("auc", "ndcg@10"), st.columns(2)):
        with column:
            _ui.chart(plots.cold_start_chart(curve, metric), key=f"cold-start-curve-{metric}")
    if curve:
        st.caption(f"benchmarks/cold_start.py on the {curve.get('preset')} world ({curve.get('embedder')} text, "
                   f"{curve.get('epochs_trained')} epochs): dev users never seen in training, picks = their true top "
                   "categories, sentence = words of their true topics; the clicks are their first real ones.")
