"""Peak memory of ``data check`` on inputs of any size or content: the reader's memory bound, measured.

    .venv/bin/python benchmarks/reader_memory.py            # 300 MB of bad rows (writes ~600 MB under /tmp)
    .venv/bin/python benchmarks/reader_memory.py --mb 50    # smaller files

Each case runs ``python -m recengine data check FOLDER`` in a real process and reads that process's own peak
resident memory (``wait4``). Cases: a normal small folder (the baseline: the interpreter and its libraries); a
``behaviors.tsv`` that is a link to /dev/urandom (endless garbage) or to /dev/zero (one endless line); MB megabytes
of line ends only (the most lines per byte); MB megabytes of rows whose times are ISO 8601 (every row bad); the
same with one good row in every 1,000 (so the bad-run limit never stops it and the whole file is read). Prints one JSON object; progress goes to stderr. Everything is written
under a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recengine.data.mind import MAX_BAD_RUN_BYTES, MAX_BAD_RUN_LINES, READ_BLOCK_BYTES  # noqa: E402

NEWS = "".join(
    f"N{i}\tnews\tnewsus\tTitle {i}\tAbstract {i}.\thttps://example.org/N{i}\t[]\t[]\n" for i in range(1, 6)
)
GOOD = "{i}\tU{u}\t11/12/2019 2:14:46 PM\tN1 N2\tN3-1 N4-0\n"
BAD = "{i}\tU{u}\t2019-11-12T14:14:46\tN1 N2\tN3-1 N4-0\n"


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "news.tsv").write_text(NEWS)
    return folder


def _rows(path: Path, megabytes: int, good_every: int | None) -> int:
    """Write ``megabytes`` MB of behaviour rows, all with ISO times except one in ``good_every``; returns rows."""
    limit = megabytes << 20
    written = rows = 0
    with open(path, "w") as handle:
        while written < limit:
            chunk = "".join(
                (GOOD if good_every and row % good_every == 0 else BAD).format(i=row + 1, u=row % 5000)
                for row in range(rows, rows + 10_000)
            )
            handle.write(chunk)
            written += len(chunk)
            rows += 10_000
    return rows


def _check(folder: Path, timeout: float) -> dict:
    """Run ``data check`` on ``folder``; its exit status, last stderr line, seconds and peak RSS in MiB."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "recengine", "data", "check", str(folder)], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    lines = [line for line in err.splitlines() if line.strip()]
    return {
        "exit": proc.returncode,
        "seconds": round(time.perf_counter() - started, 2),
        "last_line": lines[-1][:300] if lines else "",
    }


def _case(folder: str, timeout: float) -> None:
    """Helper-process entry: run one case and print its result with the peak RSS of this process's only child."""
    result = _check(Path(folder), timeout)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def _measure(folder: Path, timeout: float) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--case", str(folder), "--timeout", str(timeout)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="size of the bad-row files in MB (default: 300)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per case (default: 600)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        _case(args.case, args.timeout)
        return 0
    if args.mb < 1:
        parser.error("--mb must be at least 1")

    results: dict = {
        "block_bytes": READ_BLOCK_BYTES,
        "bad_run_limit": {"lines": MAX_BAD_RUN_LINES, "bytes": MAX_BAD_RUN_BYTES},
        "cases": {},
    }
    with tempfile.TemporaryDirectory(prefix="reader_memory_") as tmp:
        root = Path(tmp)
        small = _folder(root, "small")
        (small / "behaviors.tsv").write_text("".join(GOOD.format(i=i, u=i) for i in range(1, 101)))
        cases = {"normal_100_rows": small}
        for name, device in (("urandom_link", "/dev/urandom"), ("zero_link", "/dev/zero")):
            folder = _folder(root, name)
            (folder / "behaviors.tsv").symlink_to(device)
            cases[name] = folder
        empty = _folder(root, f"empty_lines_{args.mb}mb")  # the most lines per byte: the per-line worst case
        (empty / "behaviors.tsv").write_bytes(b"\n" * (args.mb << 20))
        cases[empty.name] = empty
        for name, every in ((f"iso_times_{args.mb}mb_all_bad", None), (f"iso_times_{args.mb}mb_1_in_1000_good", 1000)):
            folder = _folder(root, name)
            print(f"writing {name} ...", file=sys.stderr)
            rows = _rows(folder / "behaviors.tsv", args.mb, every)
            results.setdefault("rows", {})[name] = rows
            cases[name] = folder
        for name, folder in cases.items():
            print(f"data check: {name} ...", file=sys.stderr)
            results["cases"][name] = _measure(folder, args.timeout)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
