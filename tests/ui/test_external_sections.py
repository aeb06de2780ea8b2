"""The Compare sections for external predictions (pages/_external.py) and the experiment table
(pages/_experiments.py) under AppTest, on the warm tiny workspace: an upload is scored beside random and the oracle
with the paired comparison; a bad upload is one message naming its line; every run is in one table with CSV."""

from __future__ import annotations

import json

import pandas as pd

from streamlit.testing.v1 import AppTest

from apptest_kit import TIMEOUT, by_label, check, errors, run, table
from recengine.data.store import Store
from recengine.workspace import Workspace

SCRIPT = """
from pages import _ui
from pages.{module} import {function}
{function}(_ui.store())
"""


def section(module: str, function: str) -> AppTest:
    return check(AppTest.from_string(SCRIPT.format(module=module, function=function), default_timeout=TIMEOUT).run())


def dev_lines(ui_workspace) -> list[str]:
    """In-order ranks (1..n) for every dev impression, read from behaviors.tsv here."""
    lines = []
    for row in (ui_workspace[1].dataset_path / "dev" / "behaviors.tsv").read_text(encoding="utf-8").splitlines():
        impression, *_, items = row.split("\t")
        lines.append(f"{impression} {json.dumps(list(range(1, len(items.split()) + 1)))}")
    return lines


def upload(at: AppTest, name: str, lines: list[str], run_id: str) -> AppTest:
    at.file_uploader[0].set_value((name, "".join(line + "\n" for line in lines).encode(), "text/plain"))
    by_label(at.selectbox, "Compare with the run").set_value(run_id)
    at = run(at)
    return run(by_label(at.button, "Score the file").click())


def test_an_upload_is_scored_beside_random_and_the_oracle_with_significance(ui_workspace):
    at = upload(section("_external", "render_external"), "system.txt", dev_lines(ui_workspace),
                ui_workspace[1].run_id)
    assert not errors(at)
    scored = table(at, "scorer").set_index("scorer")
    assert list(scored.index) == ["this system", "random", "oracle"]
    # A column with a missing cell reaches the page as its text ("—"), the others as numbers.
    low, high = (pd.to_numeric(scored[c], errors="coerce") for c in ("AUC 95% low", "AUC 95% high"))
    assert low["this system"] < scored.loc["this system", "AUC"] < high["this system"]
    assert low[["random", "oracle"]].isna().all() and high[["random", "oracle"]].isna().all()
    shown = next(d for d in at.dataframe if "scorer" in d.value.columns).proto.column_order
    assert list(shown)[:5] == ["scorer", "impressions", "AUC", "AUC 95% low", "AUC 95% high"]
    slices = table(at, "share_of_oracle")
    assert {"all impressions", "cold users", "0 (new)"} <= set(slices["slice"])
    compared = table(at, "verdict")
    assert set(compared["verdict"]) <= {"distinguishable", "not distinguishable"} and len(compared) >= 4
    assert any("of the way from random to the oracle" in m.value for m in at.markdown)


def test_a_bad_upload_is_one_message_naming_its_line(ui_workspace):
    lines = dev_lines(ui_workspace)
    lines[2] = lines[2].split()[0] + " [1"
    at = upload(section("_external", "render_external"), "bad.txt", lines, "(none)")
    [message] = errors(at)
    assert message.startswith("bad.txt:3: malformed JSON")
    assert not at.dataframe


def test_the_experiment_table_lists_every_run_with_csv_export(ui_workspace):
    at = section("_experiments", "render_experiment_table")
    with Store(Workspace(ui_workspace[0].home).store_path) as store:
        ids = {r["run_id"] for r in store.runs()}
    frame = table(at, "settings_changed")
    assert set(frame["run_id"]) == ids
    low, auc, high = (pd.to_numeric(frame[c]) for c in ("95% low", "AUC (dev)", "95% high"))
    assert low.le(auc).all() and auc.le(high).all()
    shown = next(d for d in at.dataframe if "settings_changed" in d.value.columns).proto.column_order
    assert {"run_id", "selected_on", "AUC (dev)", "95% low", "95% high"} <= set(shown)
    assert {"selection_auc", "MRR (dev)", "MRR 95% low"} <= set(frame.columns) - set(shown) and at.toggle  # on demand
    assert at.get("download_button"), "the CSV export is there"
