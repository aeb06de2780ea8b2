"""The CLI on faults a user can fix: exit status 2 and one line naming the path, never a traceback.

Every fault here is real and one that root cannot bypass (the tests may run as root, which ignores file
permissions): a path through a regular file (ENOTDIR), a name over 255 bytes (ENAMETOOLONG), a folder in sysfs
(EPERM), a file-size limit (``ulimit -f``: EFBIG, the same path through the code as a full disk), arguments that
are not UTF-8, and terminal control characters in titles and ids, which are printed escaped.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import test_mind_bad_input as bad_rows  # tests/ is on sys.path: the valid MIND rows are defined once, there
from recengine.errors import os_fault
from recengine.textsafe import printable

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str | bytes | Path, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m recengine ARGS`` in a real process (bytes arguments pass through undecoded)."""

    def limit() -> None:  # in the child only: Python ignores SIGXFSZ, so an over-large write fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RECENGINE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "recengine", *(a if isinstance(a, bytes) else str(a) for a in args)],
        cwd=REPO, env=env, capture_output=True, timeout=300, preexec_fn=limit if file_size_limit else None,
    )


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, exactly one ``error:`` line (the last one on stderr), no traceback, containing ``words``."""
    err = result.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, err[-2000:])
    assert lines and lines[-1].startswith("error: "), err[-2000:]
    assert sum(line.startswith("error") for line in lines) == 1, err[-2000:]
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    return lines[-1]


# --------------------------------------------------------------------------- operating-system faults


def test_an_output_path_through_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("data", "generate", "--preset", "tiny", "--no-register", "--out", blocker / "world")
    one_line_error(result, str(blocker))
    assert blocker.read_text() == "not a folder"


def test_an_output_name_that_is_too_long(tmp_path: Path) -> None:
    out = tmp_path / ("x" * 300)
    result = cli("data", "generate", "--preset", "tiny", "--no-register", "--out", out)
    one_line_error(result, str(out), "the name is too long; use a shorter path")


def test_an_output_folder_where_nothing_may_be_created() -> None:
    out = Path("/sys/recengine-test-output")
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    result = cli("data", "generate", "--preset", "tiny", "--no-register", "--out", out)
    line = one_line_error(result, "/sys/")
    reason = line.lower()
    assert "operation not permitted" in reason or "read-only file system" in reason or "permission denied" in reason
    assert not out.exists()


def test_a_write_over_the_file_size_limit_names_the_file(tmp_path: Path) -> None:
    """``ulimit -f`` makes writes fail the way a full disk does (EFBIG instead of ENOSPC): same path, same line."""
    out = tmp_path / "world"
    result = cli("data", "generate", "--preset", "tiny", "--no-register", "--out", out, file_size_limit=16 << 10)
    line = one_line_error(result, f"cannot write {tmp_path}", "the file is too large", "raise the limit or write")
    assert line.split()[3].rstrip(":").endswith((".tsv", ".json", ".vec"))  # the file being written
    assert not out.exists()


def test_a_workspace_under_a_regular_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("RECENGINE_HOME", str(blocker / "home"))
    one_line_error(cli("data", "list"), str(blocker))


def test_os_fault_finds_the_os_error_behind_another_exception(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    try:
        try:
            open(tmp_path / "f" / "g", "w")
        except OSError as exc:
            raise RuntimeError("saving failed") from exc
    except RuntimeError as wrapped:
        message = os_fault(wrapped)
    assert message == f"cannot use {tmp_path / 'f' / 'g'}: a part of the path is a file, not a folder; fix the path"
    assert os_fault(RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")) == (
        "cannot write: no space left on device; free some space or write elsewhere"
    )
    assert os_fault(ValueError("a bug")) is None


# --------------------------------------------------------------------------- arguments that are not UTF-8


@pytest.mark.parametrize(
    "args, flag",
    [
        ([b"recommend", b"--run", b"r", b"--user", b"\xff"], "--user"),
        ([b"recommend", b"--run", b"r", b"--user", b"U1", b"--interest", b"golf \xe9t\xe9"], "--interest"),
        ([b"add-article", b"--run", b"r", b"--title", b"Caf\xe9 opens"], "--title"),
        ([b"add-article", b"--run", b"r", b"--title", b"T", b"--id=N\xfe1"], "--id"),
    ],
    ids=["user", "interest", "title", "id-with-equals"],
)
def test_arguments_that_are_not_utf8_are_refused_naming_the_flag(args: list[bytes], flag: str) -> None:
    result = cli(*args)
    one_line_error(result, f"{flag}: the value is not valid UTF-8 (byte 0x")
    assert result.stdout == b""


# --------------------------------------------------------------------------- terminal control characters


def test_printable_escapes_terminal_controls_and_keeps_text() -> None:
    assert printable("Crash\x1b[2J\rnews\x07") == "Crash\\x1b[2J\\rnews\\x07"
    assert printable("8-bit CSI \x9b1m, bidi \u202eevil\u202c, NUL \x00") == (
        "8-bit CSI \\x9b1m, bidi \\u202eevil\\u202c, NUL \\x00"
    )
    assert printable("row 1\nrow\t2") == "row 1\nrow\\t2"
    assert printable("a\nb", one_line=True) == "a\\nb"
    assert printable("Zürich – 東京 🎉") == "Zürich – 東京 🎉"


def test_data_check_prints_ids_from_the_file_escaped(tmp_path: Path) -> None:
    news = bad_rows.rows_with(bad_rows.NEWS, 2, 0, "N\x1b[2J\x9b2")  # controls, but no whitespace: an id
    news = bad_rows.rows_with(news, 2, 3, " ")  # empty title: the warning names the article by its id
    folder = bad_rows.write_folder(tmp_path / "data", news=news)
    result = cli("data", "check", folder)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "article N\\x1b[2J\\x9b2 has an empty title (skipped)" in err
    assert "\x1b" not in err and "\x9b" not in err


def test_recommend_prints_titles_escaped(tiny_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    shutil.copytree(tiny_data, data)
    for news in data.glob("*/news.tsv"):
        rows = [line.split("\t") for line in news.read_text().splitlines()]
        for row in rows:
            row[3] = f"\x1b[2JBREAK\rING {row[3]}"
        news.write_text("".join("\t".join(row) + "\n" for row in rows))
    result = cli("recommend", "--run", tiny_run, "--data", data, "--allow-dataset-change", "--user", "U-new", "-k", "5")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert out.count("\\x1b[2JBREAK\\rING ") == 5
    assert "\x1b" not in out and "\r" not in out
