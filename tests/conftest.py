"""Shared fixtures. Heavy libraries are imported here once so per-test timeouts (AppTest) do not pay for them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
MIND_SAMPLE = REPO.parent / "shared" / "data" / "mind_sample"


@pytest.fixture
def mind_sample() -> Path:
    """The real MIND rows beside the checkout; tests using it skip in a user's clone, which lacks ../shared."""
    if not (MIND_SAMPLE / "news.tsv").exists():
        pytest.skip("../shared/data/mind_sample is not present")
    return MIND_SAMPLE


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty RECENGINE_HOME for every test (outside its tmp_path): nothing lands in the checkout's data/."""
    path = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RECENGINE_HOME", str(path))
    return path


@pytest.fixture
def workspace(home: Path):
    """The test's empty home as a Workspace."""
    from recengine.workspace import Workspace

    return Workspace(home)


@pytest.fixture
def store(workspace):
    """The SQLite store of the test's workspace, open for the test."""
    from recengine.data.store import Store

    with Store(workspace.store_path) as opened:
        yield opened


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic dataset (generated once per session; treat as read-only)."""
    from recengine.data.synthetic import generate

    root = tmp_path_factory.mktemp("data") / "tiny"
    generate("tiny", 0, root)
    return root


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory):
    from recengine.text import EmbeddingCache

    return EmbeddingCache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tiny_cache) -> Path:
    """A run trained on tiny with the hashing embedder, 2 epochs, without the category task (read-only: copy it to
    change it). Two tiny epochs of the task cost the topic-reading the serving tests rely on."""
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.train.api import train_run

    out = tmp_path_factory.mktemp("runs") / "tiny-run"
    train_run(tiny_data, RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=2, category_aux_weight=0.0)), out=out,
              cache=tiny_cache)
    return out


@pytest.fixture
def cli_main(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli_main(*args, home=None)`` runs ``python -m recengine ARGS`` through the CLI's own ``main`` in this process
    (a new interpreter pays the torch import each time): for tests of what a command prints and returns, not of
    the process boundary. Returns a CompletedProcess with the exit status and the captured stdout and stderr."""
    import subprocess

    from recengine.cli import main

    def run(*args: object, home: Path | None = None) -> subprocess.CompletedProcess:
        if home is not None:
            monkeypatch.setenv("RECENGINE_HOME", str(home))
        capsys.readouterr()  # only this command's output
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's refusals exit as the process would
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["recengine", *map(str, args)], code, out, err)

    return run
