"""The Diagnostics page explains itself: every metric and option has a plain help, saturated and pinned are
defined once, seed references stay in "Why this exists", a noticeable saturated share is always explained,
and every chart goes through the toolbar-free chart helper."""

from __future__ import annotations

import json

from apptest_kit import elements, metric, run, start

SATURATED = "Saturated"


def _texts(block) -> list[str]:
    """The text of every markdown, caption and alert under ``block``."""
    return [str(node.value) for node in elements(block)
            if getattr(node, "type", "") in ("markdown", "caption", "alert") or node.__class__.__name__ in
            ("Markdown", "Caption", "Info", "Warning", "Success")]


def test_metrics_and_options_have_help_and_charts_have_no_toolbar():
    at = start("diagnostics")
    assert at.metric and all(m.proto.help.strip() for m in at.metric), [m.label for m in at.metric if not m.proto.help]
    controls = [*at.segmented_control, *at.number_input]
    assert len(controls) == 3 and all(c.proto.help.strip() for c in controls)
    configs = [json.loads(chart.proto.config or "{}") for chart in at.get("plotly_chart")]
    assert configs and all(c.get("displayModeBar") is False for c in configs)


def test_saturated_and_pinned_are_defined_once_and_seed_references_sit_in_why_this_exists():
    at = start("diagnostics")
    everywhere = _texts(at.main)
    assert sum("**Saturated**:" in t and "**Pinned**:" in t for t in everywhere) == 1
    expanders = [e for e in at.expander if e.label == "Why this exists"]
    inside = [t for e in expanders for t in _texts(e)]
    assert len(expanders) == 2 and any("seeds/001" in t for t in inside)
    outside = [t for t in everywhere if t not in inside]
    assert outside and not [t for t in outside if "seeds/" in t or "×10" in t or "x10" in t]


def test_a_noticeable_saturated_share_is_always_explained_on_both_scales():
    at = start("diagnostics")
    for scale in ("raw", "calibrated"):
        run(at.segmented_control(key="diagnostics-scale").set_value(scale))
        share = float(metric(at, SATURATED).rstrip("%")) / 100
        notes = [i.value for i in at.info if "saturated" in i.value or "below 1%" in i.value]
        assert len(notes) == (1 if share >= 0.05 else 0), (scale, share, notes)
        if scale == "raw" and notes:
            # The tiny model is trained with the listwise loss: what saturation means for it, in plain words.
            assert "does not change the ranking metrics" in notes[0] and "listwise loss" in notes[0]
            assert metric(at, SATURATED) in notes[0]
