"""Bringing datasets into a workspace: generate a preset, import a MIND folder from an allowed place, or
unpack uploaded files.

Every dataset is loaded and checked before anything is recorded, and the store import is one
transaction, so a bad file leaves nothing behind: no folder, no store rows. The store knows a dataset by its
content (:meth:`recengine.data.store.Store.dataset_for`): importing data it already holds, under any folder or
name, is refused with the name it has. Folders are read only from
the workspace's ``datasets/`` folder or from roots named in ``$RECENGINE_IMPORT_ROOTS`` (paths
separated by ``os.pathsep``), so a form field cannot make the program read an arbitrary place on disk.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path, PurePosixPath

from recengine.data.mind import BEHAVIORS_FILE, ENTITY_FILE, NEWS_FILE, MindDataset, load_dataset
from recengine.data.store import Store
from recengine.data.synthetic import DEFAULT_WORLD_VERSION, PRESETS, generate
from recengine.errors import InputError
from recengine.workspace import Workspace

IMPORT_ROOTS_ENV = "RECENGINE_IMPORT_ROOTS"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
UPLOAD_FILES = (NEWS_FILE, BEHAVIORS_FILE, ENTITY_FILE)
MAX_UNPACKED_BYTES = 8 << 30
MAX_ZIP_MEMBERS = 10_000
MAX_NESTING = 3  # folders a zip may wrap its MIND folder in


def check_name(name: str) -> str:
    """A dataset name: letters, digits, '_', '.', '-' (1-64 characters, starting with a letter or digit)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InputError(
            f"bad dataset name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def import_roots(workspace: Workspace) -> list[Path]:
    """Where folders may be imported from: the workspace's datasets folder, then ``$RECENGINE_IMPORT_ROOTS``."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get(IMPORT_ROOTS_ENV, "").split(os.pathsep) if p]
    return [workspace.datasets.resolve(), *extra]


def allowed_folder(path: str | Path, workspace: Workspace) -> Path:
    """``path`` resolved (symlinks and '..' followed; a relative path is taken under the datasets folder), if it
    lies inside an import root; InputError otherwise."""
    text = str(path).strip()
    if not text:
        raise InputError("no folder given")
    resolved = (workspace.datasets / Path(text).expanduser()).resolve()
    roots = import_roots(workspace)
    if not any(resolved.is_relative_to(root) for root in roots):
        listing = ", ".join(str(root) for root in roots)
        raise InputError(
            f"{resolved} is outside the folders data may be read from ({listing}). Copy it under "
            f"{roots[0]} or add its parent folder to ${IMPORT_ROOTS_ENV}."
        )
    if not resolved.is_dir():
        raise InputError("not a folder" if resolved.exists() else "folder does not exist", path=resolved)
    return resolved


def _check_new(workspace: Workspace, store: Store, name: str) -> Path:
    name = check_name(name)
    if store.dataset(name) is not None:
        raise InputError(f"a dataset called {name!r} already exists; choose another name")
    folder = workspace.dataset(name)
    if folder.exists():
        raise InputError(f"{folder} already exists; choose another name or remove that folder")
    return folder


def _load_checked(root: Path, strict: bool, shown_under: Path | None = None) -> MindDataset:
    """Load ``root``; errors name files relative to ``shown_under`` (the upload's own names) when given."""
    try:
        return load_dataset(root, strict=strict)
    except InputError as exc:
        if shown_under is None or exc.path is None or not Path(exc.path).is_relative_to(shown_under):
            raise
        raise InputError(exc.reason, path=Path(exc.path).relative_to(shown_under), line=exc.line) from None


def _record(store: Store, name: str, folder: Path, strict: bool, **origin) -> dict:
    """Load ``folder`` and import it into the store under ``name``; returns the store's counts and the summary."""
    dataset = _load_checked(folder, strict)
    result = store.import_dataset(name, dataset, **origin)
    return {**result, "summary": dataset.summary()}


def generate_dataset(workspace: Workspace, store: Store, preset: str, seed: int, name: str | None = None,
                     world_version: int = DEFAULT_WORLD_VERSION) -> dict:
    """Generate a synthetic ``preset`` world with ``seed`` into ``<datasets>/<name>`` and import it.

    ``name`` defaults to ``<preset>-seed<seed>``. Returns the store's import counts and the dataset summary.
    """
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    name = name or f"{preset}-seed{seed}"
    folder = _check_new(workspace, store, name)
    generate(preset, seed, folder, world_version=world_version)
    try:
        return _record(store, name, folder, True, source="generated", preset=preset, seed=seed)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def import_folder(
    workspace: Workspace, store: Store, path: str | Path, name: str | None = None, *, strict: bool = True
) -> dict:
    """Import the MIND folder at ``path`` (inside an import root; read in place) under ``name`` (default: its name).

    With ``strict`` the first bad row is an error naming its file and line; otherwise bad rows are skipped
    and counted in the summary.
    """
    folder = allowed_folder(path, workspace)
    name = check_name(name or folder.name)
    if store.dataset(name) is not None:
        raise InputError(f"a dataset called {name!r} already exists; choose another name")
    return _record(store, name, folder, strict, source="imported")


def _safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The zip's file entries, refusing absolute or '..' paths, links, and archives too large to unpack."""
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise InputError(f"the zip holds {len(members):,} entries; the limit is {MAX_ZIP_MEMBERS:,}")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise InputError(f"the zip unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB")
    files = []
    for member in members:
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if member.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise InputError(f"the zip entry {member.filename!r} points outside the folder")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise InputError(f"the zip entry {member.filename!r} is a link; links are not unpacked")
        if not member.is_dir() and parts and parts[0] != "__MACOSX":
            files.append(member)
    return files


def _mind_root(folder: Path) -> Path:
    """The folder holding ``train/`` or ``news.tsv``: ``folder`` itself or a lone subfolder (a few levels down)."""
    for _ in range(MAX_NESTING + 1):
        if (folder / "train").is_dir() or (folder / NEWS_FILE).is_file() or (folder / BEHAVIORS_FILE).is_file():
            return folder
        children = [c for c in folder.iterdir() if c.name != "__MACOSX"]
        if len(children) != 1 or not children[0].is_dir():
            break
        folder = children[0]
    raise InputError(f"the upload holds no MIND folder: expected train/ and dev/, or {NEWS_FILE} and {BEHAVIORS_FILE}")


def unpack_upload(files: Sequence[tuple[str, bytes]], dest: Path) -> Path:
    """Write uploaded ``(file name, content)`` pairs under the empty folder ``dest``; returns the MIND folder.

    Either one ``.zip`` of a MIND folder (a split folder or one with ``train/`` and ``dev/``), or the loose
    files of one split: news.tsv and behaviors.tsv, optionally entity_embedding.vec.
    """
    if not files:
        raise InputError("no files uploaded")
    names = [Path(name).name for name, _ in files]
    if any(name.lower().endswith(".zip") for name in names):
        if len(files) != 1:
            raise InputError("upload either one .zip or the loose files, not both")
        try:
            with zipfile.ZipFile(BytesIO(files[0][1])) as archive:
                archive.extractall(dest, members=_safe_members(archive))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise InputError(f"not a readable zip file ({exc})", path=names[0]) from None
        return _mind_root(dest)
    unknown = sorted(set(names) - set(UPLOAD_FILES))
    if unknown:
        raise InputError(f"unexpected files {', '.join(unknown)}; upload {', '.join(UPLOAD_FILES)} or one .zip")
    if len(set(names)) != len(names):
        raise InputError("the same file was uploaded twice")
    missing = [name for name in (NEWS_FILE, BEHAVIORS_FILE) if name not in names]
    if missing:
        raise InputError(f"missing {', '.join(missing)}; a split needs {NEWS_FILE} and {BEHAVIORS_FILE}")
    for name, content in zip(names, (content for _, content in files)):
        (dest / name).write_bytes(content)
    return dest


def scratch_folder(parent: Path) -> Path:
    """A fresh hidden folder under ``parent`` (same file system, so moving out of it is one rename)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".upload-", dir=parent))


def import_upload(
    workspace: Workspace, store: Store, files: Sequence[tuple[str, bytes]], name: str, *, strict: bool = True
) -> dict:
    """Check uploaded files (see :func:`unpack_upload`), move them to ``<datasets>/<name>`` and import them.

    Errors name the uploaded files (``news.tsv:3: ...``); on any error nothing stays on disk or in the store.
    """
    folder = _check_new(workspace, store, name)
    scratch = scratch_folder(workspace.datasets)
    try:
        root = unpack_upload(files, scratch)
        _load_checked(root, strict, shown_under=root)
        os.replace(root, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        return _record(store, name, folder, strict, source="imported")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
