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
