"""The Data page's generate form offers the world version: 3 preselected, 2 for reproducing older figures."""

from __future__ import annotations

import json
from pathlib import Path

from apptest_kit import by_label, run, start, successes


def test_generate_form_picks_the_world_version(home: Path):
    at = start("data")
    choice = by_label(at.selectbox, "World version")
    assert choice.value == 3 and list(choice.options)[0].startswith("3")
    by_label(at.text_input, "Name (optional)").set_value("tiny-v2-page")
    by_label(at.number_input, "Seed").set_value(3)
    choice.set_value(2)
    run(by_label(at.button, "Generate").click())
    assert any("Generated dataset tiny-v2-page" in s for s in successes(at))
    meta = json.loads((home / "datasets" / "tiny-v2-page" / "meta.json").read_text())
    assert meta["seed"] == 3 and "world_version" not in meta  # a v2 meta.json has no version key
