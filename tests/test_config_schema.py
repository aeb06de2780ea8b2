"""The one configuration schema: every RunConfig field has a validation rule, a CLI flag and a form widget,
generated from its Setting; this file walks the schema so that a field added later cannot drift."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pytest

from recengine.cli import build_parser, main
from recengine.commands.train import config_from_args
from recengine.config import ModelConfig, RunConfig, Setting, TrainConfig, every_setting, schema, setting
from recengine.errors import InputError

REPO = Path(__file__).resolve().parent.parent
GRID_AXES = {"fusion", "temperature", "loss", "seed"}


def field_names(kind: type) -> set[str]:
    return {f.name for f in fields(kind)}


ALL_FIELDS = field_names(ModelConfig) | field_names(TrainConfig)


def part_of(name: str) -> str:
    return "model" if name in field_names(ModelConfig) else "train"


def other_value(s: Setting, default):
    """A valid value different from ``default``, worked out from the setting's declared limits."""
    if s.kind == "bool":
        return not default
    if s.kind == "choice":
        return next(c for c in s.choices if c != default)
    if s.kind == "choices":
        return tuple(reversed(default))[:2]
    if s.kind == "text":
        return "cpu" if default != "cpu" else "cuda:1"
    if default is None:
        return 2.5
    if s.kind == "int":
        return default + 1 if default + 1 <= s.high else default - 1
    return (default + s.high) / 2


def as_text(s: Setting, value) -> str:
    if s.kind == "choices":
        return ",".join(value)
    return str(value)


def train_args(tmp_path: Path, *flags: str) -> list[str]:
    return ["train", "--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "run"), *flags]


def parse(argv: list[str], **fixed) -> RunConfig:
    return config_from_args(build_parser().parse_args(argv), **fixed)


def everything_changed() -> RunConfig:
    model = {s.name: other_value(s, getattr(ModelConfig(), s.name)) for s in schema(ModelConfig)}
    train = {s.name: other_value(s, getattr(TrainConfig(), s.name)) for s in schema(TrainConfig)}
    return RunConfig(ModelConfig(**model), TrainConfig(**train)).validate()


# ------------------------------------------------------------------------------------------ the schema itself


@pytest.mark.parametrize("kind", [ModelConfig, TrainConfig])
def test_every_field_declares_its_setting(kind):
    for f in fields(kind):
        s = f.metadata.get("setting")
        assert isinstance(s, Setting), f"{kind.__name__}.{f.name} has no Setting"
        assert s.label and s.help, f.name
    for s in schema(kind):
        assert s.kind in ("bool", "int", "float", "choice", "choices", "text"), s.name
        if s.kind in ("int", "float"):
            assert s.low is not None and s.high is not None, f"{s.name} has no range"
        if s.kind in ("choice", "choices"):
            assert s.choices, f"{s.name} has no choices"
        if s.kind == "text":
            assert s.pattern and s.allowed, f"{s.name} has no pattern"


JARGON_EXPLAINED = {"fusion", "user_encoder", "gnn", "loss", "schedule", "temperature", "select_on", "negatives"}


def test_every_help_is_one_plain_sentence_and_the_jargon_is_in_why():
    for _, s in every_setting():
        assert s.help[:1].islower() and not s.help.endswith("."), s.name  # the form and the CLI finish it
        assert not re.search(r"[.!?](\s|$)", s.help), f"{s.name}: one sentence: {s.help!r}"
        assert 20 <= len(s.help) <= 120, f"{s.name}: {len(s.help)} characters"
        for text in (s.help, s.label):
            assert "seeds/" not in text and "×10" not in text, f"{s.name}: {text!r}"
        assert s.help.lower() != s.label.lower(), s.name  # says more than its label
    whys = {s.name for _, s in every_setting() if s.why}
    assert JARGON_EXPLAINED <= whys
    assert any("seeds/001" in s.why for _, s in every_setting())  # the references moved, not vanished


def test_a_field_without_a_setting_is_refused():
    @dataclass
    class Later:
        declared: int = setting(1, "Declared", "a declared setting", low=0, high=2)
        forgotten: int = 3

    with pytest.raises(TypeError, match="Later.forgotten has no Setting"):
        schema(Later)


def test_defaults_pass_their_own_rules():
    assert RunConfig().validate() == RunConfig()
    assert everything_changed() != RunConfig()


# --------------------------------------------------------------------------------------------- validate()


@pytest.mark.parametrize(
    "config, message",
    [
        (ModelConfig(user_id_dim=-1), "user_id_dim must be a whole number between 0 and 4096; got -1"),
        (ModelConfig(temperature=0), "temperature must be a number above 0 and at most 100; got 0"),
        (ModelConfig(temperature=math.nan), "temperature must be a number above 0 and at most 100; got nan"),
        (ModelConfig(temperature=math.inf), "temperature must be a number above 0 and at most 100; got inf"),
        (ModelConfig(dim=True), "dim must be a whole number between 4 and 4096; got True"),
        (ModelConfig(dim=64.0), "dim must be a whole number between 4 and 4096; got 64.0"),
        (ModelConfig(dim="64"), "dim must be a whole number between 4 and 4096; got '64'"),
        (ModelConfig(freshness=1), "freshness must be true or false; got 1"),
        (ModelConfig(fusion="sum"), "fusion must be one of concat, attention, gate; got 'sum'"),
        (ModelConfig(views=()), "views must be one or more of id, text, graph (no repeats); got ''"),
        (ModelConfig(views=("id", "id")), "views must be one or more of id, text, graph (no repeats); got 'id,id'"),
        (ModelConfig(views="id"), "views must be one or more of id, text, graph (no repeats); got 'id'"),
        (ModelConfig(retrieval_threshold=1.5), "retrieval_threshold must be a number between -1 and 1; got 1.5"),
        (TrainConfig(seed=-1), "seed must be a whole number between 0 and 4294967295; got -1"),
        (TrainConfig(lr=math.nan), "lr must be a number above 0 and at most 10; got nan"),
        (TrainConfig(epochs=0), "epochs must be a whole number between 1 and 1000; got 0"),
        (TrainConfig(negatives=-3), "negatives must be a whole number between 0 and 1000; got -3"),
        (TrainConfig(negatives=0), "negatives must be at least 1 with the listwise loss (0 only with infonce)"),
        (TrainConfig(class_balance="oversample"),
         "class_balance oversample balances the bce loss only; the loss is listwise"),
        (TrainConfig(loss="infonce", negatives=0, hard_negatives="impression"),
         "hard_negatives impression replaces some of the K negatives; negatives is 0"),
        (TrainConfig(focal_gamma=-1.0), "focal_gamma must be a number between 0 and 10; got -1.0"),
        (TrainConfig(hard_negative_share=0.0), "hard_negative_share must be a number above 0 and at most 1; got 0.0"),
        (TrainConfig(pos_weight=0.0), "pos_weight must be a number above 0 and at most 10000 (or auto); got 0.0"),
        (TrainConfig(device="gpu7"), "device must be auto, cpu or cuda[:N]; got 'gpu7'"),
        (TrainConfig(device="cuda:"), "device must be auto, cpu or cuda[:N]; got 'cuda:'"),
        (TrainConfig(warmup=0.95), "warmup must be a number between 0 and 0.9; got 0.95"),
    ],
)
def test_validate_refuses_with_one_line_naming_the_setting_and_its_range(config, message):
    with pytest.raises(InputError) as refused:
        config.validate()
    assert str(refused.value) == message


def test_validate_accepts_numpy_numbers_and_stores_plain_ones():
    model = ModelConfig(dim=np.int64(32), temperature=np.float32(0.5), views=["text", "id"]).validate()
    assert (type(model.dim), model.dim) == (int, 32)
    assert (type(model.temperature), model.temperature) == (float, 0.5)
    assert model.views == ("text", "id")
    assert TrainConfig(loss="infonce", negatives=0).validate().negatives == 0
    assert TrainConfig(device="cuda:3").validate().device == "cuda:3"


def test_saved_configs_stay_loadable():
    """A format-1 config.json (before the validation split) loads as a run that selected on dev; a current one
    round-trips unchanged."""
    written = {"format_version": 1, "model": asdict(ModelConfig()), "train": asdict(TrainConfig())}
    del written["train"]["select_on"], written["train"]["validation_fraction"]
    written["model"]["views"] = list(written["model"]["views"])  # JSON has no tuples
    assert RunConfig.from_dict(written) == RunConfig(train=TrainConfig(select_on="dev"))
    assert RunConfig.from_dict(RunConfig().to_dict()) == RunConfig()
    changed = everything_changed()
    assert RunConfig.from_dict(changed.to_dict()) == changed


# ------------------------------------------------------------------------------------------------- flags


def test_every_setting_has_its_flag_on_train_and_compare():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    train_flags = set(subparsers["train"]._option_string_actions)
    compare = subparsers["compare"]
    for _, s in every_setting():
        assert s.flag in train_flags, s.flag
        if s.kind == "bool":
            assert "--no-" + s.flag[2:] in train_flags, s.flag
        if s.name not in GRID_AXES:
            assert compare._option_string_actions[s.flag].dest == s.name, s.flag
    # the grid keeps its comma-separated axes in place of the single-valued flags
    for flag in ("--fusion", "--temperature", "--loss", "--seeds"):
        assert compare._option_string_actions[flag].dest in {"fusion", "temperature", "loss", "seeds"}


# A setting whose changed value is valid only beside another (the schema's rules): that one is given too.
COMPANIONS = {"class_balance": {"loss": "bce"}}


@pytest.mark.parametrize("name", sorted(ALL_FIELDS))
def test_each_flag_changes_exactly_its_field(tmp_path, name):
    s = next(s for _, s in every_setting() if s.name == name)
    default = getattr(getattr(RunConfig(), part_of(name)), name)
    value = other_value(s, default)
    if s.kind == "bool":
        flags = [s.flag if value else "--no-" + s.flag[2:]]
    else:
        flags = [s.flag, as_text(s, value)]
    expected = RunConfig()
    setattr(getattr(expected, part_of(name)), name, value)
    for other, given in COMPANIONS.get(name, {}).items():
        flags += ["--" + other.replace("_", "-"), given]
        setattr(getattr(expected, part_of(other)), other, given)
    got = parse(train_args(tmp_path, *flags))
    assert got == expected
    assert got != RunConfig()


def test_flags_that_are_not_given_keep_the_defaults(tmp_path):
    assert parse(train_args(tmp_path)) == RunConfig()


def test_compare_takes_every_other_setting_from_the_same_flags(tmp_path):
    argv = ["compare", "--data", str(tmp_path), "--fusion", "concat,gate", "--temperature", "0.1,0.5",
            "--dim", "16", "--no-freshness", "--pos-weight", "3", "--device", "cpu"]
    got = parse(argv, fusion="concat", temperature=0.1, loss="bce", seed=7)
    expected = RunConfig(ModelConfig(fusion="concat", temperature=0.1, dim=16, freshness=False),
                         TrainConfig(loss="bce", seed=7, pos_weight=3.0, device="cpu"))
    assert got == expected


# ------------------------------------------------------------------------------------ reproducing a config


def test_to_cli_args_round_trips_the_defaults(tmp_path):
    args = RunConfig().to_cli_args()
    assert parse(train_args(tmp_path, *args)) == RunConfig()
    assert RunConfig().to_cli_args(changed_only=True) == []


def test_to_cli_args_round_trips_a_config_with_every_field_changed(tmp_path):
    changed = everything_changed()
    for field_name in ALL_FIELDS:  # the premise: nothing was left at its default
        part = part_of(field_name)
        assert getattr(getattr(changed, part), field_name) != getattr(getattr(RunConfig(), part), field_name)
    assert parse(train_args(tmp_path, *changed.to_cli_args())) == changed
    assert parse(train_args(tmp_path, *changed.to_cli_args(changed_only=True))) == changed


def test_to_cli_args_keeps_exact_floats_and_negative_values(tmp_path):
    config = RunConfig(ModelConfig(temperature=0.1 + 0.2, retrieval_threshold=-0.25), TrainConfig(lr=1e-7))
    assert parse(train_args(tmp_path, *config.to_cli_args(changed_only=True))) == config


# --------------------------------------------------------------------------------------- hostile CLI values


def hostile_values(s: Setting) -> list[str]:
    """Text a flag must refuse: each side of its range, NaN and infinity, a fraction for a whole number."""
    values = ["nan", "inf", "-inf", "abc", "true"]
    values.append(str(s.low if s.low_open else s.low - 1))
    values.append(str(s.high if s.high_open else s.high + 1))
    if s.kind == "int":
        values.append(str(s.low + 0.5))
    return values


NUMERIC = [(s, v) for _, s in every_setting() if s.kind in ("int", "float") for v in hostile_values(s)]
OTHER = [(s, v) for _, s in every_setting() if s.kind in ("choice", "choices", "text")
         for v in (["bogus", "", "id,id", "id,,pictures"] if s.kind == "choices" else ["bogus", ""])]
OTHER += [(next(s for _, s in every_setting() if s.name == "device"), v) for v in ("gpu7", "cuda:x", "CPU")]


@pytest.mark.parametrize("s, value", NUMERIC + OTHER, ids=lambda x: x.name if isinstance(x, Setting) else repr(x))
def test_a_hostile_value_is_one_error_line_and_exit_2(tmp_path, capsys, s, value):
    code = main(train_args(tmp_path, f"{s.flag}={value}"))
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {s.flag} must be "), captured.err
    assert not (tmp_path / "run").exists()


def test_compare_refuses_a_hostile_shared_flag_before_training(tmp_path, capsys):
    code = main(["compare", "--data", str(tmp_path / "no-such-data"), "--store", str(tmp_path / "s.db"),
                 "--fusion", "concat", "--temperature", "0.1", "--user-id-dim", "-1"])
    assert code == 2
    assert capsys.readouterr().err == "error: --user-id-dim must be a whole number between 0 and 4096; got -1\n"
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    "flag, value",
    [("--seed", "-1"), ("--user-id-dim", "-1"), ("--lr", "nan"), ("--temperature", "0"), ("--epochs", "0"),
     ("--dim", "0"), ("--batch-size", "0"), ("--negatives", "-3"), ("--device", "gpu7")],
)
def test_a_real_process_refuses_the_listed_hostile_values_before_reading_data(tiny_data, tmp_path, flag, value):
    """The data is real and valid: the refusal comes before it is loaded or embedded (nothing is written)."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "recengine", "train", "--data", str(tiny_data), "--out", str(out),
         "--embedder", "hashing", flag, value],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} must be "), done.stderr
    assert value in lines[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------------------- the form


def test_every_field_has_exactly_one_widget_and_every_widget_key_names_a_field():
    from pages import _forms

    drawn = _forms.widgets(RunConfig(), key="train")
    keys = [w.options["key"] for w in drawn]
    assert len(keys) == len(set(keys))
    assert {key.removeprefix("train-") for key in keys} == ALL_FIELDS
    assert all(key.startswith("train-") for key in keys)
    grid = _forms.widgets(RunConfig(), key="grid", skip=GRID_AXES)
    assert {w.setting.name for w in grid} == ALL_FIELDS - GRID_AXES


def test_each_widget_shows_its_setting_and_limits():
    from pages import _forms

    calls = {"bool": "checkbox", "int": "number_input", "float": "number_input", "choice": "selectbox",
             "choices": "multiselect", "text": "selectbox"}
    defaults = everything_changed()
    for w in _forms.widgets(defaults, key="f"):
        s, options = w.setting, w.options
        value = getattr(getattr(defaults, w.part), s.name)
        assert w.call == calls[s.kind] and options["label"] == s.label, s.name
        if w.call == "number_input":
            assert options["value"] == value
            assert options.get("min_value") == (None if s.low_open else s.low), s.name
            assert options.get("max_value") == (None if s.high_open else s.high), s.name
        elif w.call == "selectbox":
            assert options["options"][options["index"]] == value
        elif w.call == "multiselect":
            assert options["default"] == list(value)
        else:
            assert options["value"] is value


def test_form_values_become_the_config_or_the_schemas_message():
    from pages._forms import FormValues

    defaults = everything_changed()
    entered = {name: getattr(getattr(defaults, part_of(name)), name) for name in ALL_FIELDS}
    entered["views"] = list(entered["views"])  # a multiselect gives a list
    assert FormValues(defaults, entered).config() == defaults
    assert FormValues(RunConfig(), {"dim": 32}).config() == RunConfig(ModelConfig(dim=32))
    with pytest.raises(InputError, match=r"^Temperature τ must be a number above 0 and at most 100; got 0.0$"):
        FormValues(RunConfig(), {"temperature": 0.0}).config()
    with pytest.raises(InputError, match=r"^Views must be one or more of id, text, graph \(no repeats\); got ''$"):
        FormValues(RunConfig(), {"views": []}).config()


def _form_page() -> None:
    import streamlit as st

    from pages import _forms
    from recengine.config import RunConfig as Config
    from recengine.errors import InputError as Refused

    with st.form("f"):
        form = _forms.config_form(Config(), key="t")
        submitted = st.form_submit_button("Go")
    if submitted:
        try:
            st.code(repr(form.config()))
        except Refused as exc:
            st.error(str(exc))


def test_the_drawn_form_has_a_widget_per_field_and_shows_a_bad_value_as_an_error():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_form_page, default_timeout=60).run()
    assert not at.exception
    inputs = [*at.multiselect, *at.selectbox, *at.number_input, *at.checkbox]
    assert sorted(w.key for w in inputs) == sorted(f"t-{name}" for name in ALL_FIELDS)
    at.button[0].click().run()
    assert not at.error and at.code[0].value == repr(RunConfig())
    at.number_input(key="t-temperature").set_value(0.0)
    at.number_input(key="t-dim").set_value(32)
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Temperature τ must be a number above 0 and at most 100; got 0.0"]
    at.number_input(key="t-temperature").set_value(0.5)
    at.button[0].click().run()
    assert not at.error
    assert at.code[0].value == repr(RunConfig(ModelConfig(dim=32, temperature=0.5)))
