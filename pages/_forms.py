"""The run-configuration form, generated from ``recengine.config``'s schema: one widget per setting.

:func:`widgets` is the field-to-widget mapping as data (tested without a browser); :func:`config_form` draws
it inside the caller's ``st.form`` and :meth:`FormValues.config` turns what was entered into a validated
``RunConfig``, raising the schema's own message (named by the widget's label) for a bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable

import streamlit as st

from recengine.config import RunConfig, Setting, every_setting

PER_ROW = 3  # four to a row cut the chosen views and long numbers at 1024 px


@dataclass(frozen=True)
class Widget:
    """One Streamlit input: ``st.<call>(**options)`` for the setting ``setting.name`` of ``part``."""

    part: str  # "model" or "train"
    setting: Setting
    call: str  # multiselect, selectbox, checkbox or number_input
    options: dict


def widgets(defaults: RunConfig, *, key: str, skip: Iterable[str] = ()) -> list[Widget]:
    """A widget for every setting not in ``skip``, showing ``defaults``; keys are ``<key>-<field name>``."""
    skip = set(skip)
    return [_widget(part, s, getattr(getattr(defaults, part), s.name), f"{key}-{s.name}")
            for part, s in every_setting() if s.name not in skip]


def help_sentence(s: Setting) -> str:
    """The setting's help as a sentence (the schema keeps it lower case, without a full stop, for the CLI)."""
    return s.help[:1].upper() + s.help[1:] + "."


def _widget(part: str, s: Setting, value: Any, key: str) -> Widget:
    common = {"label": s.label, "help": help_sentence(s), "key": key}
    if s.kind == "choices":
        return Widget(part, s, "multiselect", {**common, "options": list(s.choices), "default": list(value)})
    if s.kind in ("choice", "text"):
        options = list(s.choices) + ([value] if value not in s.choices else [])
        extra = {"accept_new_options": True} if s.kind == "text" else {}  # e.g. cuda:1 is typed
        return Widget(part, s, "selectbox", {**common, "options": options, "index": options.index(value), **extra})
    if s.kind == "bool":
        return Widget(part, s, "checkbox", {**common, "value": value})
    return Widget(part, s, "number_input", {**common, **_number_options(s, value)})


def _number_options(s: Setting, value: int | float | None) -> dict:
    """Closed bounds become the widget's limits; an open end (temperature > 0) is left to validation."""
    cast = int if s.kind == "int" else float
    step = s.step or (1 if cast is int else 0.1)
    options: dict = {"value": None if value is None else cast(value), "step": cast(step)}
    if s.low is not None and not s.low_open:
        options["min_value"] = cast(s.low)
    if s.high is not None and not s.high_open:
        options["max_value"] = cast(s.high)
    if cast is float:
        options["format"] = s.fmt or "%g"
    if s.optional:
        options["placeholder"] = s.none_text
    return options


@dataclass
class FormValues:
    """What the form's widgets returned, by field name, over the defaults it was drawn with."""

    defaults: RunConfig
    values: dict[str, Any]

    def config(self) -> RunConfig:
        """The validated config; InputError naming the setting by its label for a bad value."""
        parts: dict[str, dict] = {"model": {}, "train": {}}
        for part, s in every_setting():
            if s.name in self.values:
                parts[part][s.name] = s.check(self.values[s.name], s.label)
        return RunConfig(replace(self.defaults.model, **parts["model"]),
                         replace(self.defaults.train, **parts["train"])).validate()


def config_form(defaults: RunConfig, *, key: str, skip: Iterable[str] = ()) -> FormValues:
    """Draw every setting's widget (call inside ``st.form``): the basic ones by part, the rest in an expander."""
    drawn = widgets(defaults, key=key, skip=skip)
    values: dict[str, Any] = {}
    for part, title in (("model", "Model"), ("train", "Training")):
        basic = [w for w in drawn if w.part == part and not w.setting.advanced]
        if basic:
            st.markdown(f"**{title}**")
            _draw(basic, values)
    advanced = [w for w in drawn if w.setting.advanced]
    if advanced:
        with st.expander("More options"):
            _draw(advanced, values)
    if reasons := why_text(w.setting for w in drawn):
        with st.expander("Why these options exist", icon=":material/help:"):
            st.markdown(reasons)
    return FormValues(defaults, values)


def why_text(settings: Iterable[Setting]) -> str:
    """A markdown list of each setting's longer story (``Setting.why``), in form order; '' when none has one."""
    return "\n".join(f"- **{s.label}**: {s.why}" for s in settings if s.why)


def _draw(row: list[Widget], values: dict[str, Any]) -> None:
    for start in range(0, len(row), PER_ROW):
        for column, w in zip(st.columns(PER_ROW), row[start:start + PER_ROW]):
            values[w.setting.name] = getattr(column, w.call)(**w.options)
