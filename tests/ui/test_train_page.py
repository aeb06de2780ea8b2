"""The Train & load page as a stranger reads it: every option explained, the saved runs and their comparison
formatted by kind with the key columns in view, one comparison chart with labelled references, and live
curves that show random, the oracle and the epoch under way."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from apptest_kit import by_label, chart_specs, run, start
from recengine.app import jobs
from recengine.app import runs as app_runs
from recengine.config import ModelConfig, RunConfig, TrainConfig, every_setting
from recengine.data.store import Store
from recengine.train.trainer import TrainEvent
from recengine.workspace import Workspace

RUN_KEYS = ["run_id", "auc", "share_of_oracle", "created_at", "views", "fusion"]


def shown(frame_element) -> tuple[list[str], "pa.Table"]:
    """(the columns in view, the values as the page writes them) of a table drawn by ``_ui.show_table``."""
    proto = frame_element.proto
    values = pa.ipc.open_stream(proto.arrow_data.styler.display_values).read_pandas()
    return list(proto.column_order), values


def table_with(at: AppTest, first: str, column: str):
    """The first table whose columns in view start with ``first`` and include ``column``."""
    for element in at.dataframe:
        order, values = shown(element)
        if order[:1] == [first] and column in order:
            return order, values
    raise AssertionError(f"no table shows {column!r}: {[shown(e)[0] for e in at.dataframe]}")


@pytest.fixture
def second_run(home: Path) -> Iterator[str]:
    """A copy of the default run that says τ 0.5, registered as a second saved run (and deleted afterwards)."""
    workspace = Workspace(home)
    with Store(workspace.store_path) as store:
        default = store.runs("tiny")[0]
        shutil.copytree(default["path"], workspace.runs / "tiny-copy")
        config = json.loads((workspace.runs / "tiny-copy" / "config.json").read_text())
        config["model"]["temperature"] = 0.5  # one setting that differs, for the comparison to show
        (workspace.runs / "tiny-copy" / "config.json").write_text(json.dumps(config))
        run_id = app_runs.register_folder(workspace, store, "tiny-copy")["run_id"]
    yield run_id
    with Store(workspace.store_path) as store:
        app_runs.delete_run(workspace, store, run_id)


def test_the_form_explains_every_option_and_keeps_the_jargon_in_why():
    at = start("train")
    helps = {w.label: w.help for w in [*at.multiselect, *at.selectbox, *at.number_input, *at.checkbox]}
    for _, s in every_setting():
        assert helps[s.label].endswith(".") and "seeds/" not in helps[s.label], s.name
    why = by_label(at.expander, "Why these options exist")
    text = " ".join(m.value for m in why.markdown)
    assert "**Fusion**" in text and "**User encoder**" in text and "seeds/001" in text


def test_saved_runs_show_the_key_columns_formatted_by_kind(home: Path):
    with Store(Workspace(home).store_path) as store:  # other tests may have added an update, which has a parent
        has_parent = any(run["parent"] for run in store.runs("tiny"))
    at = start("train")
    order, values = table_with(at, "run_id", "share_of_oracle")
    assert order == RUN_KEYS
    row = values.iloc[0]
    assert len(row["auc"].split(".")[1]) == 3 and row["share_of_oracle"].endswith("%")
    assert len(row["created_at"]) == len("2026-12-01 20:47")  # no seconds, no microseconds
    assert "None" not in values.to_string()
    assert ("parent" in values.columns) == has_parent  # empty for every run: dropped
    everything = at.toggle(key="saved-runs-all")  # the saved-runs table's own toggle (a comparison has one too)
    at = run(everything.set_value(True))
    order, values = table_with(at, "run_id", "share_of_oracle")
    assert order[:len(RUN_KEYS)] != RUN_KEYS or len(order) > len(RUN_KEYS)
    assert {"loss", "random_auc", "oracle_auc"} <= set(order) and f"Show all {len(order)} columns" == everything.label


def test_run_details_are_a_table_of_facts():
    at = start("train")
    order, values = table_with(at, "fact", "value")
    facts = dict(zip(values["fact"], values["value"]))
    assert facts["kind"] == "full training" and facts["best epoch"].isdigit()
    assert len(facts["created (UTC)"]) == len("2026-12-01 20:47") and facts["training time"].endswith(" s")


def test_comparing_two_runs_is_one_formatted_table_and_one_chart(second_run: str):
    at = start("train")
    by_label(at.multiselect, "Runs to compare").set_value(["tiny-default", second_run])
    at = run(at)
    order, values = table_with(at, "run_id", "random_auc")
    assert order == ["run_id", "auc", "share_of_oracle", "random_auc", "oracle_auc"]
    assert sorted(values["run_id"]) == sorted(["tiny-default", second_run])
    assert all(len(v.split(".")[1]) == 3 for v in values["auc"]) and values["share_of_oracle"].str.endswith("%").all()
    order, settings = table_with(at, "run_id", "Temperature τ")
    assert order == ["run_id", "Temperature τ"]  # the one setting that differs, headed by its label
    assert dict(zip(settings["run_id"], settings["Temperature τ"])) == {"tiny-default": "0.1", second_run: "0.5"}
    [figure] = [json.loads(spec) for spec in chart_specs(at) if "each run beside random" in spec]
    bars = [t["name"] for t in figure["data"] if t["type"] == "bar"]
    assert sorted(bars) == sorted(["tiny-default", second_run])
    notes = [a["text"] for a in figure["layout"]["annotations"]]
    assert sum(n.startswith("random ") for n in notes) == sum(n.startswith("oracle ") for n in notes) >= 1


def _live_page(job_id: int) -> None:
    from pages import _jobs
    from recengine.app import jobs as app_jobs
    from pages import _ui

    _jobs.live_curves(app_jobs.get(_ui.store(), job_id))


def test_live_curves_draw_references_and_the_epoch_under_way(home: Path):
    workspace = Workspace(home)
    config = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=2))
    with Store(workspace.store_path) as store:
        job_id = jobs.submit(workspace, store, "train", {"dataset": "tiny", "config": config.to_dict()}, start=False)
        jobs.Reporter(store, job_id, interval=0.0)(TrainEvent("step", epoch=1, epochs=2, step=5, steps=10, loss=0.9))
    try:
        at = AppTest.from_function(_live_page, args=(job_id,), default_timeout=300).run()
        assert not at.exception, [e.value for e in at.exception]
        figure = json.loads(chart_specs(at)[0])
        batches = figure["data"][0]
        assert batches["x"] == [0.5] and batches["y"] == [0.9]
        notes = [a["text"] for a in figure["layout"]["annotations"]]
        assert any(n.startswith("random 0.") for n in notes) and any(n.startswith("oracle (dev) 0.") for n in notes)
        assert figure["layout"]["yaxis2"]["range"][1] <= 1.0
        assert "validation split" in at.caption[0].value and "measured on dev" in at.caption[0].value
    finally:
        with Store(workspace.store_path) as store:
            store.write("DELETE FROM job_events WHERE job_id = ?", (job_id,))
            store.write("DELETE FROM jobs WHERE id = ?", (job_id,))


@pytest.mark.parametrize("event, done, expected", [
    (TrainEvent("step", epoch=1, epochs=2, step=11, steps=40, loss=0.6931), 0, (11 / 40, 0.6931)),
    (TrainEvent("step", epoch=2, epochs=2, step=40, steps=40, loss=0.123449), 1, (2.0, 0.1234)),  # as written
    (TrainEvent("epoch", epoch=1, epochs=2, loss=0.5, metrics={"auc": 0.6}), 1, None),
    (TrainEvent("prepare", message="embedding articles"), 0, None),
])
def test_a_step_sample_is_read_from_the_message_the_job_writes(event, done, expected):
    from pages._jobs import step_sample

    sample = step_sample(f"trial 1 · {jobs.describe(event)}", done)
    assert sample == (None if expected is None else pytest.approx(expected))
