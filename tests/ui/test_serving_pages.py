"""The serving pages read at a glance: Recommend says which reader a list is for and shows for a new reader only
what means something; New articles offers a sample of new data that the update runs on; Cold start names a topic
without an empty subcategory; every table fits its key columns and hides the rest behind a toggle."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from apptest_kit import after_jobs, by_label, errors, plain, run, start, successes, table
from recengine.app import jobs, samples
from recengine.app.runs import ACTIVE_RUN
from recengine.data.mind import load_dataset
from recengine.data.store import Store
from recengine.train.incremental import find_archived, rows_fingerprint
from recengine.workspace import Workspace

TYPE = "Type any user id"
PICK = "Pick from the readers of this dataset"


def texts(at) -> list[str]:
    return [e.value for e in (*at.caption, *at.markdown, *at.text, *at.subheader, *at.info)]


def subheader(at) -> str:
    return next(s.value for s in at.subheader if s.value.startswith("Top "))


def test_an_unknown_reader_gets_popularity_columns_only_and_a_caption_that_says_so():
    at = start("recommend")
    run(by_label(at.radio, "Choose the reader by").set_value(TYPE))
    by_label(at.text_input, "User id").set_value("nobody-here")
    run(by_label(at.button, "Recommend").click())
    top = table(at, "rank")
    assert {"popularity_score", "clicks"} <= set(top.columns)
    assert not {"probability", "score", "top_view", "recall_score"} & set(top.columns)
    assert not top.isna().any().any()  # no cell would show "None" or "—"
    assert not any("None" in t for t in texts(at))
    captions = " ".join(c.value for c in at.caption)
    assert "Popularity score" in captions and "logit" not in captions
    assert "nobody-here" in plain(subheader(at))


def test_the_list_says_which_reader_it_is_for_and_one_input_chooses_the_reader():
    at = start("recommend")
    listed = by_label(at.selectbox, "Reader")
    second = listed.options[1]
    run(listed.set_value(second))
    run(by_label(at.button, "Recommend").click())
    assert plain(subheader(at)) == f"Top 10 for reader {second}"
    assert any("picked from the list" in c.value for c in at.caption)
    assert "probability" in table(at, "rank").columns  # a known reader: the model's list

    run(by_label(at.radio, "Choose the reader by").set_value(TYPE))
    assert not [s for s in at.selectbox if s.label == "Reader"]  # the pick is gone, not silently overridden
    by_label(at.text_input, "User id").set_value("someone-new")
    run(by_label(at.button, "Recommend").click())
    assert plain(subheader(at)) == "Top 10 for reader someone-new"
    assert any("typed" in c.value for c in at.caption)

    run(by_label(at.radio, "Choose the reader by").set_value(PICK))
    assert not [t for t in at.text_input if t.label == "User id"]
    run(by_label(at.button, "Recommend").click())
    assert plain(subheader(at)) == f"Top 10 for reader {by_label(at.selectbox, 'Reader').value}"


def test_the_recommendations_table_shows_its_key_columns_and_the_rest_on_demand():
    at = start("recommend")
    run(by_label(at.button, "Recommend").click())
    shown = next(d for d in at.dataframe if "rank" in d.value.columns)
    assert list(shown.proto.column_order) == ["rank", "title", "category", "probability", "top_view"]
    run(at.toggle(key="recommendations-all").set_value(True))
    shown = next(d for d in at.dataframe if "rank" in d.value.columns)
    assert {"recall_score", "contribution_text", "score"} <= set(shown.proto.column_order)


def unconsume(home: Path) -> None:
    """Forget that the tiny dev day was folded in (the UI tests share one workspace, and another test uploads the
    same rows)."""
    rows = rows_fingerprint(load_dataset(home / "datasets" / "tiny" / "dev").train)
    while (entry := find_archived(Workspace(home).archive, rows)) is not None:
        shutil.rmtree(entry)


@pytest.mark.slow  # a background update job: ~50 s on a busy two-core machine
def test_the_sample_of_new_data_is_a_valid_update_input_and_is_not_made_active(home: Path):
    unconsume(home)
    try:
        at = start("new_articles")
        by_label(at.number_input, "Epochs on the new rows").set_value(1)
        at = after_jobs(run(by_label(at.button, "Update with a sample: the dev day").click()))
        with Store(Workspace(home).store_path) as store:
            job = jobs.latest(store, "update")
            assert job["status"] == "done", job.get("error")
            assert samples.is_sample(Workspace(home), job["params"]["new_data"])
            assert store.get_setting(ACTIVE_RUN) == "tiny-default"  # optimistic figures: the user decides
            child = store.run(job["result"]["run_id"])
            assert child["mode"] == "incremental" and child["parent"] == "tiny-default"
        assert any(c.value.startswith("Made from the sample") for c in at.caption), errors(at)
        assert [plain(w.value) for w in at.warning] or any("Saved run" in s for s in successes(at))
        assert list(table(at, "role")["role"]) == ["before (parent)", "updated"]
        run(by_label(at.button, "Update with a sample: the dev day").click())
        assert any("already folded into a model" in e for e in errors(at)), errors(at)
    finally:
        unconsume(home)


def test_new_article_statistics_appear_once_and_tables_fit():
    at = start("new_articles")
    by_label(at.text_input, "Title").set_value("Central bank holds rates as inflation cools")
    by_label(at.selectbox, "Category").set_value("finance")
    run(by_label(at.button, "Add and score").click())
    assert any("scored it zero-shot" in s for s in successes(at)), errors(at)
    assert not [d for d in at.dataframe if "mean_probability" in d.value.columns]  # the tiles only
    nearest = next(d for d in at.dataframe if "similarity" in d.value.columns)
    assert list(nearest.proto.column_order) == ["title", "category", "similarity"]
    assert all(m.proto.help.strip() for m in at.metric)


def test_cold_start_names_topics_without_an_empty_subcategory():
    at = start("cold_start")
    by_label(at.multiselect, "Interests from the category list").set_value(["sports"])
    run(by_label(at.button, "Start as a new reader").click())
    labels = [t.value for t in at.text if " · " in t.value]
    assert len(labels) == 10
    assert all(re.fullmatch(r"[^/·]+?( / [^/·]+)? · for sports · score -?\d+\.\d{3}", label) for label in labels), \
        labels
    run(next(b for b in at.button if b.label == "Read").click())
    clicks = next(d for d in at.dataframe if "article_id" in d.value.columns)
    assert list(clicks.proto.column_order) == ["title", "category"]
