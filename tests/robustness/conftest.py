"""Helpers for the robustness suite: real CLI subprocesses (with their own peak memory), one-line error checks,
and copies of the session's tiny run to damage.

The suite's shared fixtures (``tiny_data``, ``tiny_cache``, ``tiny_run``, the per-test empty ``home``) come from
``tests/conftest.py``; nothing here trains a model of its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@dataclass
class Finished:
    """A finished CLI process: exit status, output, and its own peak resident memory in MiB."""

    code: int
    out: str
    err: str
    peak_mb: float


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment (RECENGINE_HOME included) plus ``extra``; no traceback unless asked."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env.pop("RECENGINE_DEBUG", None)
    return env


class _Popen(subprocess.Popen):
    """A Popen that keeps the child's own resource usage when it reaps it (``wait4`` instead of ``waitpid``), so a
    test can read that child's peak RSS rather than the maximum over every child this process ever had."""

    rusage = None

    def _try_wait(self, wait_flags):  # subprocess internals (POSIX, Python 3.11): wait() reaps through this
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.rusage = usage
        return pid, status


def _popen(argv: list[str], env: dict[str, str] | None) -> _Popen:
    return _Popen(
        [PYTHON, *argv], cwd=REPO, env=env or subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> _Popen:
    """Start ``python -m recengine ARGS`` (in its own process group) and return at once."""
    return _popen(["-m", "recengine", *map(str, args)], env)


def finish(proc: _Popen, timeout: float = 300) -> Finished:
    """Wait for ``proc`` to end and collect its output and peak memory."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    peak = proc.rusage.ru_maxrss / 1024 if proc.rusage is not None else float("nan")
    return Finished(proc.returncode, out, err, peak)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Finished:
    """Run ``python -m recengine ARGS`` in a real process to the end."""
    return finish(start_cli(*args, env=env), timeout)


def run_python(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Finished:
    """Run a Python snippet in a real process to the end (``sys.argv[1:]`` are ``args``)."""
    return finish(_popen(["-c", code, *map(str, args)], env), timeout)


def assert_one_line_error(code: int, err: str, *words: str) -> str:
    """Exit status 2, the error as the last stderr line (``error: ...``, one line), no traceback; returns it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err[-2000:])
    assert lines, "no message on stderr"
    last = lines[-1]
    assert last.startswith("error: "), err[-2000:]
    assert sum(line.startswith("error") for line in lines) == 1, err[-2000:]
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    for word in words:
        assert word in last, (word, last)
    return last


def folder_digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny run, free to damage."""
    target = tmp_path / "run"
    shutil.copytree(tiny_run, target)
    return target
