"""Model and training configuration: plain dataclasses, validated, saved as JSON in every run.

Each field carries its :class:`Setting` (help, widget label, choices, range, flag) in its metadata: that one
schema generates ``validate()``, the CLI flags (``recengine.commands.train``), the dashboard's form
(``pages/_forms.py``) and :meth:`RunConfig.to_cli_args`. A field without a Setting is refused at import.
"""

from __future__ import annotations

import math
import numbers
import re
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from typing import Any

from recengine.errors import InputError, RunFormatError

# Bumped when a run folder's layout or meaning changes; runs from a newer version are refused.
# 2: select_on and validation_fraction; a version-1 config selected on dev.
RUN_FORMAT_VERSION = 3

VIEWS = ("id", "text", "graph")
FUSIONS = ("concat", "attention", "gate")
USER_ENCODERS = ("attention", "transformer")
GNNS = ("sage", "gat")
SCORINGS = ("cosine", "dot")
LOSSES = ("bce", "listwise", "infonce")
SCHEDULES = ("cosine", "plateau", "none")
EMBEDDERS = ("minilm", "openai", "hashing")
TEXT_FIELDS = ("title", "title+abstract")
NEW_ARTICLE_ID = ("mean", "neighbors")
SELECT_ON = ("validation", "dev")
HARD_NEGATIVES = ("none", "impression", "impression+recall")
CLASS_BALANCE = ("pos_weight", "oversample")
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"
DEVICES = ("auto", "cpu", "cuda")  # the form's suggestions; cuda:N is typed


@dataclass(frozen=True)
class Setting:
    """One configuration field: what it means, what it accepts, and how each face shows it.

    ``kind`` and ``name`` are filled from the dataclass field. Numbers lie in ``low``..``high``; an end marked
    open excludes its bound (temperature > 0). ``optional`` accepts None, written ``none_text`` on the CLI.
    ``help`` is one plain sentence (lower case, no full stop: the CLI adds to it); ``why`` holds the rest.
    ``advanced`` puts the widget in the form's expander; ``step`` and ``fmt`` are number-widget hints. ``search`` is
    the range ``recengine tune`` searches, inside the validation range (tests/test_tune.py walks the schema).
    """

    label: str
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    pattern: str | None = None
    allowed: str = ""  # how ``pattern`` reads in a message
    optional: bool = False
    none_text: str = "auto"
    advanced: bool = False
    step: float | None = None
    fmt: str | None = None
    # Hyperparameter search (recengine.app.tune): (low, high, "log" | "linear") for a number, True for every choice.
    search: tuple[float, float, str] | bool | None = None
    why: str = ""  # the longer story: jargon, references, the reason it exists (the form's "why" expander)
    name: str = ""
    kind: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, what: str | None = None) -> Any:
        """``value`` in its canonical type (tuple, int, float), or InputError naming ``what`` (default: the name)."""
        what = what or self.name
        if value is None and self.optional:
            return None
        check = {"bool": _check_bool, "int": _check_number, "float": _check_number, "choice": _check_choice,
                 "choices": _check_subset, "text": _check_text}[self.kind]
        return check(self, value, what)

    def parse(self, text: str, what: str | None = None) -> Any:
        """A value from command-line text, checked (bools come from argparse as bools)."""
        what = what or self.flag
        if self.optional and text.strip().lower() == self.none_text:
            return None
        if self.kind in ("int", "float"):
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise InputError(f"{what} must be {self.describe()}; got {text!r}") from None
        elif self.kind == "choices":
            value = tuple(item.strip() for item in text.split(",") if item.strip())
        else:
            value = text
        return self.check(value, what)

    def to_text(self, value: Any) -> str:
        """The command-line text that :meth:`parse` reads back as ``value`` (not for bools)."""
        if value is None:
            return self.none_text
        if self.kind == "choices":
            return ",".join(value)
        return repr(value) if self.kind == "float" else str(value)

    def describe(self) -> str:
        """What the setting accepts, as the end of 'X must be ...'."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "choices":
            return f"one or more of {', '.join(self.choices)} (no repeats)"
        if self.kind == "text":
            return self.allowed
        number = "a whole number" if self.kind == "int" else "a number"
        return f"{number} {_range_text(self)}" + (f" (or {self.none_text})" if self.optional else "")


def setting(default: Any, label: str, help: str, **options: Any) -> Any:
    """A dataclass field whose metadata is its Setting."""
    return field(default=default, metadata={"setting": Setting(label, help, **options)})


def _range_text(s: Setting) -> str:
    if s.low is not None and s.high is not None and not (s.low_open or s.high_open):
        return f"between {_number(s.low)} and {_number(s.high)}"
    ends = []
    if s.low is not None:
        ends.append(f"{'above' if s.low_open else 'at least'} {_number(s.low)}")
    if s.high is not None:
        ends.append(f"{'below' if s.high_open else 'at most'} {_number(s.high)}")
    return " and ".join(ends)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _refuse(s: Setting, value: Any, what: str) -> InputError:
    return InputError(f"{what} must be {s.describe()}; got {value!r}")


def _check_bool(s: Setting, value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise _refuse(s, value, what)
    return value


def _check_number(s: Setting, value: Any, what: str) -> int | float:
    # bool is an int to Python, never to a user; a float is refused where a whole number is meant.
    kind = numbers.Integral if s.kind == "int" else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise _refuse(s, value, what)
    number = int(value) if s.kind == "int" else float(value)
    below = s.low is not None and (number <= s.low if s.low_open else number < s.low)
    above = s.high is not None and (number >= s.high if s.high_open else number > s.high)
    if below or above:
        raise _refuse(s, value, what)
    return number


def _check_choice(s: Setting, value: Any, what: str) -> str:
    if not isinstance(value, str) or value not in s.choices:
        raise _refuse(s, value, what)
    return value


def _check_subset(s: Setting, value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _refuse(s, value, what)
    value = tuple(value)
    if not value or len(set(value)) != len(value) or any(item not in s.choices for item in value):
        raise _refuse(s, ",".join(map(str, value)), what)
    return value


def _check_text(s: Setting, value: Any, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(s.pattern or ".*", value):
        raise _refuse(s, value, what)
    return value


@dataclass
class ModelConfig:
    """What the recommender is made of."""

    views: tuple[str, ...] = setting(
        VIEWS, "Views", "which parts of an article the model reads: its ID, its text and its entity graph",
        choices=VIEWS,
        why="The ID view learns each article from its clicks alone, so it knows popular articles well and new ones "
            "not at all; the text view reads the words, so a brand-new article is scored from its title; the graph "
            "view follows the people, places and things an article mentions. Fewer views train faster.")
    dim: int = setting(64, "Dimension", "how many numbers describe each article and reader: more can capture more "
                       "but trains slower", low=4, high=4096, step=8, search=(16, 128, "linear"))
    fusion: str = setting(
        "attention", "Fusion", "how the article's views are combined into one description", choices=FUSIONS,
        search=True,
        why="concat puts the views side by side; attention learns, per article, how much to trust each view (the "
            "weights are shown on Diagnostics); gate mixes the views number by number.")
    user_encoder: str = setting(
        "attention", "User encoder", "how a reader's past clicks are summed up into one description of the reader",
        choices=USER_ENCODERS,
        why="attention weighs each past click by how telling it is (as NRMS does); transformer first lets the "
            "clicks look at each other, which is slower and can help with long histories.")
    gnn: str = setting(
        "sage", "GNN", "how the graph of articles and the entities they mention is read (graph view only)",
        choices=GNNS,
        why="GNN = graph neural network. sage (GraphSAGE) averages an article's neighbours; gat (graph attention) "
            "learns which neighbours matter more.")
    gnn_layers: int = setting(2, "GNN layers", "how many steps through the entity graph each article looks",
                              low=1, high=6, advanced=True)
    scoring: str = setting(
        "cosine", "Scoring", "how a reader and an article are matched into a score: cosine (stable) or the raw "
        "dot product", choices=SCORINGS,
        why="The raw dot product can grow without limit, which pushes click probabilities to exactly 0 or 1 (they "
            "saturate, see Diagnostics); cosine stays between -1 and 1 and is divided by the temperature.")
    temperature: float = setting(
        0.1, "Temperature τ", "how strongly cosine scores are spread apart: smaller is sharper (cosine scoring "
        "only)", low=0, high=100, low_open=True, step=0.05, search=(0.02, 1.0, "log"),
        why="The score is cosine / τ: τ 0.1 multiplies the cosine by 10 and τ 0.5 by 2. These are the ×10 and ×2 "
            "settings of the earlier system this project replaces (seeds/001).")
    output_relu: bool = setting(
        False, "ReLU on vectors", "set negative numbers in article and reader descriptions to zero, as an earlier "
        "system did", advanced=True,
        why="The earlier system (seeds/001) put a ReLU on its article and user vectors. All-positive vectors make "
            "raw dot products large (its logits of 84-113) and cosine similarities start near 0.5; kept to "
            "reproduce that behaviour, off by default.")
    max_history: int = setting(50, "Max history", "how many of a reader's latest clicks the model reads", low=1,
                               high=1000, advanced=True)
    user_id_dim: int = setting(
        8, "User ID dimension", "how many numbers the model learns for each reader on top of their clicks, 0 for "
        "none", low=0, high=4096, advanced=True,
        why="Small on purpose: the click history carries the reader, and a large per-reader vector overfits readers "
            "with few clicks.")
    id_dropout: float = setting(
        0.3, "ID dropout", "share of training examples whose article and reader IDs are hidden, so the model also "
        "learns from text and graph", low=0, high=0.9, step=0.05, advanced=True, search=(0.0, 0.6, "linear"),
        why="A hidden ID is replaced by a neutral vector, which is what a new article or reader has: the model "
            "learns to score them without their ID.")
    entity_dropout: float = setting(
        0.1, "Entity dropout", "share of training articles shown without their entities, so articles without any "
        "are still scored well", low=0, high=1, step=0.05, advanced=True, search=(0.0, 0.5, "linear"),
        why="Used by the sage graph encoder only.")
    freshness: bool = setting(True, "Freshness bonus", "add a learned bonus or penalty by how old an article is "
                              "when it is shown", advanced=True)
    new_article_id: str = setting(
        "neighbors", "New article ID vector", "which ID description a never-seen article gets: the average of all "
        "articles, or its most similar articles'", choices=NEW_ARTICLE_ID, advanced=True)
    user_retrieval: int = setting(
        0, "Similar users fused (0 = off)", "how many similar readers are blended into each reader's description, "
        "0 for none", low=0, high=1000, advanced=True,
        why="Borrowing from similar readers (k nearest users by cosine) is meant for readers with short histories.")
    retrieval_threshold: float = setting(0.3, "Retrieval threshold", "how similar (cosine) another reader must be "
                                         "to be blended in", low=-1, high=1, step=0.05, advanced=True)
    embedder: str = setting(
        "minilm", "Text embedder", "which program turns article text into numbers", choices=EMBEDDERS,
        why="minilm is the all-MiniLM-L6-v2 sentence model, run on this machine; openai calls OpenAI's embedding "
            "service and needs OPENAI_API_KEY; hashing hashes words into a vector: instant and crude, for tests.")
    text_fields: str = setting("title+abstract", "Text fields", "which article text is read: the title alone, or "
                               "the title and the abstract", choices=TEXT_FIELDS, advanced=True)

    def validate(self) -> "ModelConfig":
        _apply_schema(self)
        return self


@dataclass
class TrainConfig:
    """How the recommender is trained."""

    loss: str = setting(
        "listwise", "Loss", "what the model is trained to get right: each click on its own, or the click ranked "
        "above what was not clicked", choices=LOSSES, search=True,
        why="bce (binary cross-entropy) scores each candidate on its own; listwise ranks a click above its K "
            "non-clicks (the MIND standard, as NRMS trains); infonce also uses the other clicks of a batch as "
            "non-clicks.")
    negatives: int = setting(
        4, "Negatives per click", "how many articles the reader saw but did not click are paired with each click",
        low=0, high=1000, search=(1, 8, "linear"),
        why="K non-clicks from the same impression per click; the MIND standard is 4. 0 is allowed only with "
            "infonce, which takes its non-clicks from the batch.")
    epochs: int = setting(6, "Epochs", "how many times training goes over all the clicks", low=1, high=1000)
    lr: float = setting(3e-3, "Learning rate", "how big each learning step is: too high is unstable, too low is "
                        "slow", low=0, high=10, low_open=True, step=1e-4, fmt="%.6f", search=(1e-4, 3e-2, "log"))
    batch_size: int = setting(256, "Batch size", "how many clicks are learned from in one step", low=1,
                              high=1_000_000)
    weight_decay: float = setting(
        1e-4, "Weight decay", "a small pull of the model's weights towards zero that fights overfitting", low=0,
        high=10, step=1e-4, fmt="%.6f", advanced=True, search=(1e-6, 1e-2, "log"),
        why="Applied to the dense layers only: the ID tables get none (see the design's pitfalls).")
    grad_clip: float = setting(
        1.0, "Gradient clip", "a cap on how big one update can be, which keeps training stable, 0 for no cap",
        low=0, high=1e6, step=0.5, advanced=True,
        why="The largest gradient norm of the dense layers; a larger one is scaled down to it.")
    schedule: str = setting(
        "cosine", "Schedule", "how the learning rate changes during training", choices=SCHEDULES,
        why="cosine lowers it smoothly to zero by the last step; plateau halves it after an epoch without "
            "progress; none keeps it fixed. All three start with the warmup.")
    warmup: float = setting(0.05, "Warmup share", "share of training spent slowly raising the learning rate at "
                            "the start", low=0, high=0.9, step=0.01, advanced=True)
    patience: int = setting(2, "Early-stopping patience", "how many epochs without improvement are allowed "
                            "before training stops early; the best epoch is kept", low=0, high=1000)
    select_on: str = setting(
        "validation", "Select on", "which held-out impressions pick the best epoch: the latest part of the "
        "training data, or the dev split", choices=SELECT_ON,
        why="The chosen split picks the best epoch, stops early and fits the calibration. validation = the last "
            "impressions of train by time, so dev is never used for a choice; dev = as papers that select on dev "
            "do, which inflates the dev figures (newsreclib #4), and every figure is then labelled 'selected on "
            "dev'.")
    validation_fraction: float = setting(
        0.1, "Validation share of train", "share of the training impressions, the most recent, held back to "
        "pick the best epoch (select on validation only)", low=0.01, high=0.5, step=0.01, advanced=True)
    pos_weight: float | None = setting(
        None, "Positive weight (bce)", "with the bce loss, how much one click counts against one non-click; auto "
        "balances a click against its negatives", low=0, high=1e4, low_open=True, optional=True, advanced=True,
        why="auto = K, the number of negatives per click, so that a click weighs as much as its K non-clicks.")
    bce_on_probabilities: bool = setting(
        False, "Sigmoid then BCELoss", "with the bce loss, turn scores into probabilities before the loss, as an "
        "earlier system did", advanced=True,
        why="seeds/001 applied a sigmoid and then BCELoss; with dot scoring the probabilities saturate at 0 or 1 "
            "and learning stalls (see Diagnostics). Off by default: the loss on raw scores is stable.")
    hard_negatives: str = setting(
        "none", "Hard negatives", "where some of each click's negatives come from: the non-clicks the model "
        "currently scores highest instead of random ones", choices=HARD_NEGATIVES, advanced=True,
        why="Hard-negative mining (seeds/001 §9.1). impression = the impression's non-clicks the current model "
            "scores highest (scored without gradients before each step); impression+recall also takes the "
            "highest-scoring articles of a random sample of the catalogue, never one the reader clicked. Only "
            "the hard share of the K negatives is hard, the rest stay random: all-hard negatives include "
            "articles the reader would have liked (false negatives) and are known to hurt.")
    hard_negative_share: float = setting(
        0.5, "Hard share of negatives", "share of each click's negatives that are hard when hard negatives are "
        "on; the rest are drawn at random", low=0, high=1, low_open=True, step=0.05, advanced=True,
        why="At least one negative is hard when hard negatives are on. With impression+recall the hard ones are "
            "split between the impression (the larger half) and recall.")
    focal_gamma: float = setting(
        0.0, "Focal γ (0 = off)", "how strongly examples the model already gets right are down-weighted in the "
        "loss, 0 for the plain loss", low=0, high=10, step=0.5, advanced=True,
        why="Focal loss (Lin et al. 2017, seeds/001 §9.2): each example's loss is multiplied by (1 - p_t)^γ, "
            "where p_t is the probability the model gives the right answer (for bce each candidate's, for "
            "listwise and infonce the click's softmax share), so easy examples count less. 0 is the plain loss.")
    class_balance: str = setting(
        "pos_weight", "Class balance (bce)", "with the bce loss, how clicks are balanced against non-clicks: by "
        "weighting each click, or by repeating clicks", choices=CLASS_BALANCE, advanced=True,
        why="pos_weight multiplies each click's loss by the positive weight; oversample instead adds "
            "(weight - 1) more click rows per batch row, drawn from all clicks with repeats, each weighing 1, so "
            "that every batch holds as many clicks as non-clicks (seeds/001 §9.2). bce only.")
    category_aux_weight: float | None = setting(
        None, "Category task weight", "weight of an extra task that predicts each article's category; auto is 0.3 "
        "with two or more categories, 0 off", low=0, high=100, step=0.05,
        optional=True, advanced=True,
        why="An auxiliary task (seeds/001 §9.2): a linear head reads the fused article vector of every article "
            "in a batch and predicts its category from news.tsv (cross-entropy), added to the loss with this "
            "weight. It pushes same-topic articles together; the head is a training aid and is not saved. On demo "
            "(world v3, three seeds) 0.3 raised dev AUC by 0.005 overall without hurting a slice, so auto uses it.")
    id_lr_scale: float = setting(
        0.1, "ID learning-rate factor", "how fast the article and reader ID descriptions learn compared with the "
        "rest of the model", low=0, high=10, step=0.05, advanced=True, search=(0.01, 1.0, "log"),
        why="Sparse Adam moves a rarely clicked row as far per step as a popular one, so at the full rate (1) rare "
            "rows fit noise: dev AUC fell after epoch 2 on the demo preset.")
    seed: int = setting(0, "Seed", "the random seed: the same settings and seed give the same model", low=0,
                        high=2**32 - 1)
    device: str = setting("auto", "Device", "where training runs: auto uses a GPU when there is one",
                          pattern=DEVICE_PATTERN, allowed="auto, cpu or cuda[:N]", choices=DEVICES, advanced=True)
    eval_impressions: int = setting(
        0, "Selection impressions per epoch (0 = all)", "how many held-out impressions are scored after each "
        "epoch to pick the best one, 0 for all", low=0, high=10**9, advanced=True)

    def validate(self) -> "TrainConfig":
        _apply_schema(self)
        _check_rules(self)
        return self


def _check_rules(train: TrainConfig) -> None:
    """Rules that tie one setting to another."""
    if train.negatives == 0 and train.loss != "infonce":
        raise InputError(f"negatives must be at least 1 with the {train.loss} loss (0 only with infonce)")
    if train.class_balance == "oversample" and train.loss != "bce":
        raise InputError(f"class_balance oversample balances the bce loss only; the loss is {train.loss}")
    if train.hard_negatives != "none" and train.negatives == 0:
        raise InputError(f"hard_negatives {train.hard_negatives} replaces some of the K negatives; negatives is 0")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "RunConfig":
        self.model.validate()
        self.train.validate()
        return self

    def to_dict(self) -> dict:
        return {"format_version": RUN_FORMAT_VERSION, "model": asdict(self.model), "train": asdict(self.train)}

    def to_cli_args(self, *, changed_only: bool = False) -> list[str]:
        """The ``train`` flags that reproduce this config (every setting, or only those off their default)."""
        args: list[str] = []
        for part, default in ((self.model, ModelConfig()), (self.train, TrainConfig())):
            for s in schema(type(part)):
                value = getattr(part, s.name)
                if changed_only and value == getattr(default, s.name):
                    continue
                if s.kind == "bool":
                    args.append(s.flag if value else "--no-" + s.flag[2:])
                else:
                    args += [s.flag, s.to_text(value)]
        return args

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> "RunConfig":
        version = data.get("format_version")
        if not isinstance(version, int):
            raise RunFormatError(f"{source}: no format_version")
        if version > RUN_FORMAT_VERSION:
            raise RunFormatError(
                f"{source}: written by a newer recengine (run format {version}; this version reads up to "
                f"{RUN_FORMAT_VERSION}). Upgrade recengine to load it."
            )
        train = dict(data.get("train", {}))
        if version < 2:  # written before the validation split existed: the best epoch was picked on dev
            train.setdefault("select_on", "dev")
        if version < 3:  # written before the category task's auto weight: trained without the task
            train.setdefault("category_aux_weight", 0.0)
        return cls(
            model=_from_fields(ModelConfig, data.get("model", {}), source).validate(),
            train=_from_fields(TrainConfig, train, source).validate(),
        )


@cache
def schema(kind: type) -> tuple[Setting, ...]:
    """Every field's Setting, in field order, with its name and kind filled in from the field."""
    hints = typing.get_type_hints(kind)
    settings = []
    for f in fields(kind):
        base = f.metadata.get("setting")
        if base is None:
            raise TypeError(f"{kind.__name__}.{f.name} has no Setting in its metadata: declare it with setting()")
        settings.append(replace(base, name=f.name, kind=_kind(hints[f.name], base)))
    return tuple(settings)


def _kind(hint: Any, s: Setting) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is tuple:
        return "choices"
    base = args[0] if args else hint
    if base is str:
        return "text" if s.pattern else "choice"
    return {bool: "bool", int: "int", float: "float"}[base]


def every_setting() -> tuple[tuple[str, Setting], ...]:
    """(part, setting) for each field of a run's config; part is 'model' or 'train'."""
    return tuple(("model", s) for s in schema(ModelConfig)) + tuple(("train", s) for s in schema(TrainConfig))


def _apply_schema(config: ModelConfig | TrainConfig) -> None:
    for s in schema(type(config)):
        setattr(config, s.name, s.check(getattr(config, s.name)))


def _from_fields(kind: type, values: dict[str, Any], source: str):
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RunFormatError(f"{source}: unknown {kind.__name__} settings {', '.join(unknown)}")
    return kind(**values)


# Checked at import: a field added without a Setting fails every import of recengine.config, not a run later.
schema(ModelConfig)
schema(TrainConfig)
