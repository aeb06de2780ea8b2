"""A dataset's identity by content: one fingerprint over the files that define it, whatever its folder is called.

The fingerprint covers every file :func:`recengine.data.mind.load_dataset` reads as data: each split's news.tsv,
behaviors.tsv and entity_embedding.vec, and dev/truth.tsv, under canonical names (a bare split folder counts as
``train/``). So the same files in a folder with another name give the same fingerprint, and a folder regenerated
with another seed gives a new one. ``meta.json`` is left out: it says how the data was made, it is not the data.

Hashing is the only cost. Each file's digest is remembered for the life of the process, keyed by its path, size,
modification and change times and inode, so a command hashes a file at most once; a store keeps the digests across
processes (:meth:`recengine.data.store.Store.fingerprint`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path

from recengine.data.mind import BEHAVIORS_FILE, ENTITY_FILE, NEWS_FILE, SPLITS, TRUTH_FILE
from recengine.errors import InputError

PREFIX = "v2-"  # told apart from the 16-hex train-only digests runs recorded before
BLOCK = 1 << 20
SPLIT_FILES = (NEWS_FILE, BEHAVIORS_FILE, ENTITY_FILE)

# (resolved path, size, mtime_ns, ctime_ns, inode): a rewrite, a replacement or a copy changes at least one of them.
FileKey = tuple[str, int, int, int, int]

_memo: dict[FileKey, str] = {}
_memo_lock = threading.Lock()


def dataset_files(root: str | Path) -> dict[str, Path]:
    """The files that define the dataset at ``root``, by canonical name (``train/news.tsv``, ``dev/truth.tsv``...)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder" if root.exists() else "dataset folder does not exist", path=root)
    splits = {name: root / name for name in (*SPLITS, "test") if (root / name).is_dir()} or {"train": root}
    files = {
        f"{split}/{name}": folder / name
        for split, folder in splits.items()
        for name in SPLIT_FILES
        if (folder / name).is_file()
    }
    if (root / "dev" / TRUTH_FILE).is_file():
        files[f"dev/{TRUTH_FILE}"] = root / "dev" / TRUTH_FILE
    if not any(name.endswith(BEHAVIORS_FILE) for name in files):
        raise InputError(f"not a MIND folder: no {BEHAVIORS_FILE} in train/ or in the folder itself", path=root)
    return files


def file_key(path: Path) -> FileKey:
    """What identifies one version of a file without reading it."""
    resolved = path.resolve()
    info = resolved.stat()
    return str(resolved), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_files(
    files: Mapping[str, Path], known: Mapping[FileKey, str] | None = None
) -> tuple[str, dict[FileKey, str]]:
    """The fingerprint of ``files`` (canonical name -> path) and the digests this call had to compute.

    A file's digest comes from this process's memory, else from ``known`` (a store's cache), else from its bytes.
    """
    known = known or {}
    computed: dict[FileKey, str] = {}
    lines = []
    for name in sorted(files):
        key = file_key(files[name])
        with _memo_lock:
            digest = _memo.get(key) or known.get(key)
        if digest is None:
            digest = computed[key] = file_digest(files[name])
        with _memo_lock:
            _memo[key] = digest
        lines.append(f"{name}\t{key[1]}\t{digest}\n")
    return PREFIX + hashlib.sha256("".join(lines).encode()).hexdigest()[:32], computed


def dataset_fingerprint(root: str | Path) -> str:
    """The content fingerprint of the dataset at ``root`` (see the module notes)."""
    return fingerprint_files(dataset_files(root))[0]
