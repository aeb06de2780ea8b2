"""How long a job will take, said before it starts, from throughput measured on this machine.

Training speed is samples per second (a sample is one click with its K non-clicks) over a whole training run,
preparation and evaluation included: ``samples_seen / train_seconds`` from the ``meta.json`` of the last full
runs in the store, preferring runs on the same dataset, then runs on datasets of similar size. A training of E
epochs on a dataset is then E x (samples per epoch) / (samples per second), plus the time a job's process takes to
start. Embedding speed is articles per second from the last finished embedding jobs with the same embedder.

Without any history the fallbacks below are used, and the estimate says so. Early stopping can only make a
training shorter than estimated; a loaded machine makes everything longer.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recengine.data.store import Store
from recengine.workspace import Workspace

# benchmarks/train_speed.py on this project's 2-core CPU (README, Scale): 2,502 samples/s on demo, 1,303 on
# small; the slower one is the fallback, so that a first estimate errs long.
FALLBACK_SAMPLES_PER_S = 1_300.0
# Articles per second: hashing from the large preset's 875k texts in ~4 min; MiniLM from the demo's 3,000 texts
# inside its 85 s first start on 2 cores; OpenAI a guess for batched API calls over a typical connection.
FALLBACK_ARTICLES_PER_S = {"hashing": 3_600.0, "minilm": 60.0, "openai": 200.0}
CLICKS_PER_IMPRESSION = 1.37  # the synthetic worlds (tiny 1,238 / 900; demo 40,725 / 30,000)
STARTUP_SECONDS = 6.0  # a job's process: Python, torch and the dataset read
RECENT_RUNS = 5
RUNS_READ = 50  # newest runs whose files are read for timings
SIMILAR_SIZE = 4.0  # datasets within this factor of samples per epoch count as similar


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # how it was made, shown beside the figure

    def text(self) -> str:
        return f"estimated {duration(self.seconds)} ({self.basis})"


def duration(seconds: float) -> str:
    """``~40 s``, ``~3 min``, ``~1.5 h``."""
    if seconds < 90:
        return f"~{max(round(seconds), 1)} s"
    if seconds < 90 * 60:
        return f"~{round(seconds / 60)} min"
    return f"~{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------------------------- measurements


def _meta(run: dict) -> dict | None:
    try:
        meta = json.loads((Path(run["path"]) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _measured(store: Store) -> list[dict]:
    """Full runs with usable timings, newest first: dataset, samples per epoch, samples per second."""
    found = []
    for run in store.runs()[:RUNS_READ]:
        meta = _meta(run) if run["mode"] == "full" else None
        if not meta:
            continue
        samples, seconds = meta.get("samples_seen"), meta.get("train_seconds")
        epochs = _epochs_trained(Path(run["path"]))
        if not (isinstance(samples, (int, float)) and isinstance(seconds, (int, float)) and samples > 0
                and seconds > 0 and epochs):
            continue
        found.append({"dataset": run["dataset"], "per_epoch": samples / epochs, "rate": samples / seconds})
    return found


def _epochs_trained(run: Path) -> int:
    try:
        history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return len(history) if isinstance(history, list) else 0


def samples_per_epoch(store: Store, dataset: str, measured: list[dict] | None = None) -> float:
    """Samples in one epoch on ``dataset``: as measured by a run on it, else its training impressions x
    :data:`CLICKS_PER_IMPRESSION`."""
    measured = _measured(store) if measured is None else measured
    for run in measured:
        if run["dataset"] == dataset:
            return run["per_epoch"]
    record = store.dataset(dataset) or {}
    impressions = ((record.get("summary") or {}).get("splits") or {}).get("train") or 0
    return max(float(impressions) * CLICKS_PER_IMPRESSION, 1.0)


def training_rate(store: Store, dataset: str | None = None,
                  measured: list[dict] | None = None) -> tuple[float, str]:
    """Samples per second for a training on ``dataset`` and how that was found."""
    measured = _measured(store) if measured is None else measured
    same = [r for r in measured if r["dataset"] == dataset][:RECENT_RUNS]
    if same:
        return statistics.median(r["rate"] for r in same), _basis(same, "on this dataset")
    if dataset is not None and measured:
        size = samples_per_epoch(store, dataset, measured)
        similar = [r for r in measured if 1 / SIMILAR_SIZE <= r["per_epoch"] / size <= SIMILAR_SIZE][:RECENT_RUNS]
        if similar:
            return statistics.median(r["rate"] for r in similar), _basis(similar, "on datasets of similar size")
    if measured:
        recent = measured[:RECENT_RUNS]
        return statistics.median(r["rate"] for r in recent), _basis(recent, "on other datasets")
    return FALLBACK_SAMPLES_PER_S, f"no finished run yet: assumed {FALLBACK_SAMPLES_PER_S:,.0f} samples/s"


def _basis(runs: list[dict], where: str) -> str:
    rate = statistics.median(r["rate"] for r in runs)
    return f"{rate:,.0f} samples/s measured over the last {len(runs)} run(s) {where}"


def embedding_rate(embedder: str, finished: list[dict]) -> tuple[float, str]:
    """Articles per second for ``embedder``: the median of the last ``finished`` embedding jobs (their records,
    newest first, as :func:`recengine.app.jobs.list_jobs` gives them), else the fallback."""
    rates = []
    for job in finished:
        result = job["result"] or {}
        if result.get("embedder") == embedder and result.get("newly_embedded") and result.get("seconds"):
            rates.append(result["newly_embedded"] / result["seconds"])
    if rates:
        rate = statistics.median(rates[:RECENT_RUNS])
        return rate, f"{rate:,.0f} articles/s measured over the last {min(len(rates), RECENT_RUNS)} embedding job(s)"
    rate = FALLBACK_ARTICLES_PER_S.get(embedder, min(FALLBACK_ARTICLES_PER_S.values()))
    return rate, f"no embedding measured yet: assumed {rate:,.0f} articles/s with {embedder}"


# --------------------------------------------------------------------------------------------- estimates


def training(store: Store, dataset: str, epochs: int, *, trainings: int = 1) -> Estimate:
    """``trainings`` trainings of ``epochs`` epochs each on ``dataset``."""
    measured = _measured(store)
    rate, basis = training_rate(store, dataset, measured)
    samples = samples_per_epoch(store, dataset, measured) * epochs * trainings
    return Estimate(STARTUP_SECONDS + samples / rate, basis)


def for_job(workspace: Workspace, store: Store, kind: str, params: dict[str, Any], *,
            finished_embeddings: list[dict]) -> Estimate:
    """The estimate for a job of ``kind`` with checked ``params`` (see :mod:`recengine.app.tasks`);
    ``finished_embeddings`` are the last finished embedding jobs (the jobs module reads them: this module sits
    below it)."""
    if kind == "train":
        return training(store, params["dataset"], params["config"]["train"]["epochs"])
    if kind == "compare":
        grid = params["grid"]
        cells = len(grid["fusions"]) * len(grid["temperatures"]) * len(grid["losses"]) * len(grid["seeds"])
        return training(store, params["dataset"], params["base_config"]["train"]["epochs"], trainings=cells)
    if kind == "tune":  # every trial a full training: pruning can only make it shorter
        return training(store, params["dataset"], params["base_config"]["train"]["epochs"], trainings=params["trials"])
    if kind == "saturation":
        return training(store, params["dataset"], params["epochs"], trainings=len(params["configs"]))
    if kind == "update":
        return _update(store, params)
    if kind == "inbox":
        return _inbox(store, params)
    if kind == "embed":
        record = store.dataset(params["dataset"]) or {}
        articles = (record.get("summary") or {}).get("articles") or 0
        rate, basis = embedding_rate(params["embedder"], finished_embeddings)
        return Estimate(STARTUP_SECONDS + articles / rate, basis)
    if kind == "bootstrap":
        return _bootstrap(store, finished_embeddings)
    if kind == "beyond":
        from recengine.app.evaluation import estimated_seconds

        return Estimate(STARTUP_SECONDS + estimated_seconds(store, params), "serving rate measured on tiny")
    raise ValueError(f"no estimate for job kind {kind!r}")


def _update(store: Store, params: dict[str, Any]) -> Estimate:
    """Epochs on the new rows cost the new data's samples; epochs on everything the parent's and the new ones."""
    measured = _measured(store)
    rate, basis = training_rate(store, params["dataset"], measured)
    new = _behaviour_lines(Path(params["new_data"])) * CLICKS_PER_IMPRESSION
    everything = samples_per_epoch(store, params["dataset"], measured) + new
    samples = params["epochs"] * new + params["full_epochs"] * everything
    return Estimate(STARTUP_SECONDS + samples / rate, basis)


def _inbox(store: Store, params: dict[str, Any]) -> Estimate:
    """One update per folder ready in the inbox now (folders arriving later are processed too, and not counted)."""
    from recengine.app.inbox import scan

    box = Path(params["inbox"])
    ready = scan(box, ready=params["ready"])["pending"]
    seconds = sum(_update(store, {**params, "new_data": box / name}).seconds - STARTUP_SECONDS for name in ready)
    basis = training_rate(store, params["dataset"])[1]
    return Estimate(STARTUP_SECONDS + seconds, f"{len(ready)} folder(s) ready; {basis}")


def _behaviour_lines(folder: Path) -> int:
    """Impressions in a MIND folder's training behaviours (lines of ``train/behaviors.tsv`` or ``behaviors.tsv``)."""
    path = folder / "train" / "behaviors.tsv"
    path = path if path.is_file() else folder / "behaviors.tsv"
    try:
        with open(path, "rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return 0


def _bootstrap(store: Store, finished_embeddings: list[dict]) -> Estimate:
    """The first start: embed the default preset's articles and train the default model on it."""
    from recengine.app.first_start import Defaults
    from recengine.data.synthetic import PRESETS

    defaults = Defaults.from_env()
    size = PRESETS.get(defaults.preset)
    if size is None:
        return Estimate(STARTUP_SECONDS, f"unknown preset {defaults.preset!r}")
    train_rate, train_basis = training_rate(store)
    embed_rate, embed_basis = embedding_rate(defaults.embedder, finished_embeddings)
    samples = size.train_impressions * CLICKS_PER_IMPRESSION * defaults.epochs
    seconds = STARTUP_SECONDS + size.articles / embed_rate + samples / train_rate
    return Estimate(seconds, f"{train_basis}; {embed_basis}")
