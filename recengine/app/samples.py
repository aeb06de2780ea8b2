"""Samples a newcomer can try a feature with before they have data of their own.

:func:`dev_day_as_new_data` turns a dataset's own dev day into the input of an incremental update: a MIND split
folder (``news.tsv``, ``behaviors.tsv`` and, when the dataset has one, ``entity_embedding.vec``) under the
workspace's ``inbox/``. The update then runs on it as on any other folder (:func:`recengine.app.runs.update`, or
the dashboard's update job). Its clicks are the ones the parent run is judged on, so the updated run's dev figures
are optimistic: the sample shows how an update works, not how much it helps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from recengine.data.mind import BEHAVIORS_FILE, ENTITY_FILE, NEWS_FILE, load_dataset
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.train.incremental import find_archived, rows_fingerprint
from recengine.workspace import Workspace

INBOX = "inbox"
DEV_DAY_SUFFIX = "-dev-day"


def inbox(workspace: Workspace) -> Path:
    """Where samples of new data are written: ``<home>/inbox``."""
    return workspace.home / INBOX


def dev_day_folder(workspace: Workspace, dataset: str) -> Path:
    """The sample folder made from ``dataset``'s dev day (it may not exist yet)."""
    return inbox(workspace) / f"{dataset}{DEV_DAY_SUFFIX}"


def is_sample(workspace: Workspace, folder: str | Path) -> bool:
    """Whether ``folder`` is a sample made here (the dashboard does not make its update active on its own)."""
    path = Path(folder).resolve()
    return path.parent == inbox(workspace).resolve() and path.name.endswith(DEV_DAY_SUFFIX)


def dev_day_as_new_data(workspace: Workspace, store: Store, dataset: str) -> dict:
    """``dataset``'s dev split copied as a MIND split folder under ``inbox/``, ready to be the new data of an
    update; returns ``folder``, ``impressions``, ``articles``, ``users`` and ``reused``.

    Checked before anything is written: the dataset is in the store, has a dev split with labelled clicks, and that
    day has not already been folded into a model (the update archive holds every input it consumed). The folder is
    written under a hidden name and renamed into place, so it is complete or absent; one made earlier is reused
    (an update may be reading it)."""
    record = store.dataset(dataset)
    if record is None:
        raise InputError(f"unknown dataset {dataset!r}")
    source = Path(record["path"]) / "dev"
    if not (source / NEWS_FILE).is_file() or not (source / BEHAVIORS_FILE).is_file():
        raise InputError(f"dataset {dataset!r} has no dev split ({NEWS_FILE} and {BEHAVIORS_FILE}) to use as "
                         "new data", path=source)
    split = load_dataset(source).train  # a bare split folder reads as "train", as the update will read it
    if not split.behaviors.labeled or not (split.behaviors.labels == 1).any():
        raise InputError(f"the dev split of {dataset!r} has no labelled clicks, so an update cannot learn from it",
                         path=source / BEHAVIORS_FILE)
    consumed = find_archived(workspace.archive, rows_fingerprint(split))
    if consumed is not None:
        raise InputError(f"the dev day of {dataset!r} was already folded into a model (archived at {consumed}); "
                         "an update never consumes the same data twice")
    target = dev_day_folder(workspace, dataset)
    reused = target.is_dir()
    if not reused:
        _copy_atomically(source, target)
    return {"folder": target, "impressions": len(split.behaviors), "articles": len(split.news),
            "users": len(split.behaviors.users), "reused": reused}


def _copy_atomically(source: Path, target: Path) -> None:
    """The split files of ``source`` copied to ``target``: written under a hidden name in the same folder, flushed,
    then renamed, so ``target`` is never seen half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for name in (NEWS_FILE, BEHAVIORS_FILE, ENTITY_FILE):
            if (source / name).is_file():
                shutil.copyfile(source / name, staging / name)
                with open(staging / name, "rb") as handle:
                    os.fsync(handle.fileno())
        staging.chmod(0o755)  # mkdtemp makes it private; the folder is an ordinary input
        os.rename(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if target.is_dir():  # made meanwhile by another session: theirs is complete
            return
        raise InputError(f"could not write the sample ({exc.strerror or exc})", path=target) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
