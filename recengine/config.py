"""Model and training configuration: plain dataclasses, validated, saved as JSON in every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from recengine.errors import InputError, RunFormatError

# Bumped when a run folder's layout or meaning changes; runs from a newer version are refused.
RUN_FORMAT_VERSION = 1

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


@dataclass
class ModelConfig:
    """What the recommender is made of."""

    views: tuple[str, ...] = VIEWS
    dim: int = 64
    fusion: str = "attention"
    user_encoder: str = "attention"
    gnn: str = "sage"
    gnn_layers: int = 2
    scoring: str = "cosine"
    temperature: float = 0.1  # cosine / tau: tau 0.1 is seeds/001's "x10", 0.5 its "x2"
    # ReLU on article and user vectors, as the earlier system of seeds/001 had: all-positive vectors make
    # raw dot products large (its logits of 84-113) and cosine similarities start near 0.5.
    output_relu: bool = False
    max_history: int = 50
    user_id_dim: int = 8  # the user ID embedding is small: the history carries the user
    id_dropout: float = 0.3  # share of article/user ID vectors replaced by the neutral one in training
    entity_dropout: float = 0.1  # share of articles seen without their entities in training (sage encoder)
    freshness: bool = True  # learned bonus by article age at impression time
    new_article_id: str = "neighbors"  # ID vector of an unseen article: table mean, or its nearest articles'
    user_retrieval: int = 0  # k similar users fused into the user vector (0 = off)
    retrieval_threshold: float = 0.3  # minimum cosine for a retrieved user to count
    embedder: str = "minilm"
    text_fields: str = "title+abstract"

    def validate(self) -> "ModelConfig":
        self.views = tuple(self.views)
        _check_choices("views", self.views, VIEWS)
        if not self.views:
            raise InputError("at least one view is needed (id, text, graph)")
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_choice("user encoder", self.user_encoder, USER_ENCODERS)
        _check_choice("gnn", self.gnn, GNNS)
        _check_choice("scoring", self.scoring, SCORINGS)
        _check_choice("embedder", self.embedder, EMBEDDERS)
        _check_choice("text fields", self.text_fields, TEXT_FIELDS)
        _check_choice("new article id", self.new_article_id, NEW_ARTICLE_ID)
        _check_range("temperature", self.temperature, 1e-4, 100.0)
        _check_range("dim", self.dim, 4, 4096)
        _check_range("gnn layers", self.gnn_layers, 1, 6)
        _check_range("max history", self.max_history, 1, 1000)
        _check_range("id dropout", self.id_dropout, 0.0, 0.9)
        _check_range("entity dropout", self.entity_dropout, 0.0, 1.0)
        _check_range("user retrieval", self.user_retrieval, 0, 1000)
        return self


@dataclass
class TrainConfig:
    """How the recommender is trained."""

    loss: str = "listwise"
    negatives: int = 4  # K non-clicks from the same impression per click (MIND standard)
    epochs: int = 6
    lr: float = 3e-3
    batch_size: int = 256
    weight_decay: float = 1e-4  # dense layers only: ID tables get none (see DESIGN pitfalls)
    grad_clip: float = 1.0
    schedule: str = "cosine"
    warmup: float = 0.05  # share of all steps
    patience: int = 2  # epochs without a better dev AUC before stopping
    pos_weight: float | None = None  # bce only; None = K (a click weighs as much as its K negatives)
    bce_on_probabilities: bool = False  # seeds/001's pipeline: sigmoid, then BCELoss (saturates)
    # Learning-rate factor for the ID tables: sparse Adam moves a rarely clicked row as far per step as a
    # popular one, so at the full rate rare rows fit noise (dev AUC fell after epoch 2 on the demo preset).
    id_lr_scale: float = 0.1
    seed: int = 0
    device: str = "auto"
    eval_impressions: int = 0  # 0 = all dev impressions in the per-epoch evaluation

    def validate(self) -> "TrainConfig":
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_range("negatives", self.negatives, 0 if self.loss == "infonce" else 1, 1000)
        _check_range("epochs", self.epochs, 1, 1000)
        _check_range("learning rate", self.lr, 1e-7, 10.0)
        _check_range("batch size", self.batch_size, 1, 1_000_000)
        _check_range("weight decay", self.weight_decay, 0.0, 10.0)
        _check_range("warmup", self.warmup, 0.0, 0.9)
        _check_range("id lr scale", self.id_lr_scale, 0.0, 10.0)
        _check_range("patience", self.patience, 0, 1000)
        if self.pos_weight is not None:
            _check_range("pos weight", self.pos_weight, 1e-3, 1e4)
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise InputError(f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        return self


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return {"format_version": RUN_FORMAT_VERSION, "model": asdict(self.model), "train": asdict(self.train)}

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
        return cls(
            model=_from_fields(ModelConfig, data.get("model", {}), source).validate(),
            train=_from_fields(TrainConfig, data.get("train", {}), source).validate(),
        )


def _from_fields(kind: type, values: dict[str, Any], source: str):
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RunFormatError(f"{source}: unknown {kind.__name__} settings {', '.join(unknown)}")
    return kind(**values)


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{what} must be one of {', '.join(choices)}; got {value!r}")


def _check_choices(what: str, values: tuple[str, ...], choices: tuple[str, ...]) -> None:
    for value in values:
        _check_choice(what, value, choices)
    if len(set(values)) != len(values):
        raise InputError(f"{what} repeat: {', '.join(values)}")


def _check_range(what: str, value: float, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (low <= value <= high):
        raise InputError(f"{what} must be between {low} and {high}; got {value!r}")
