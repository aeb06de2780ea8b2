"""recengine.data.imports: where folders may be read from, what an upload may contain, nothing half-imported."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from recengine.data.imports import (
    allowed_folder,
    check_name,
    generate_dataset,
    import_folder,
    import_upload,
    unpack_upload,
)
from recengine.errors import InputError
from recengine.workspace import Workspace


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "..", "x" * 65, "é"])
def test_bad_dataset_names_are_refused(name: str):
    with pytest.raises(InputError, match="bad dataset name"):
        check_name(name)


def test_folders_are_read_only_inside_the_roots(workspace: Workspace, tmp_path: Path, monkeypatch):
    inside = workspace.datasets / "mine"
    inside.mkdir(parents=True)
    assert allowed_folder("mine", workspace) == inside.resolve()
    assert allowed_folder(str(inside), workspace) == inside.resolve()
    for outside in ("../..", "/etc", str(tmp_path)):
        with pytest.raises(InputError, match="outside the folders"):
            allowed_folder(outside, workspace)
    (workspace.datasets / "escape").symlink_to(tmp_path)
    with pytest.raises(InputError, match="outside the folders"):
        allowed_folder("escape", workspace)
    monkeypatch.setenv("RECENGINE_IMPORT_ROOTS", str(tmp_path))
    assert allowed_folder("escape", workspace) == tmp_path.resolve()


@pytest.mark.parametrize("member", ["../evil.tsv", "/abs/news.tsv", "a/../../evil.tsv"])
def test_zip_entries_pointing_outside_are_refused(tmp_path: Path, member: str):
    with pytest.raises(InputError, match="points outside the folder"):
        unpack_upload([("x.zip", zipped({member: b"x"}))], tmp_path)
    assert not (tmp_path.parent / "evil.tsv").exists()


def test_loose_uploads_need_both_files_and_nothing_else(tmp_path: Path):
    with pytest.raises(InputError, match="missing behaviors.tsv"):
        unpack_upload([("news.tsv", b"")], tmp_path)
    with pytest.raises(InputError, match="unexpected files notes.txt"):
        unpack_upload([("news.tsv", b""), ("behaviors.tsv", b""), ("notes.txt", b"")], tmp_path)
    with pytest.raises(InputError, match="not a readable zip"):
        unpack_upload([("data.zip", b"not a zip")], tmp_path)


def test_upload_of_a_zipped_folder_imports_and_a_bad_one_leaves_nothing(workspace, store, tiny_data: Path):
    files = {f"mind/{split}/{name}": (tiny_data / split / name).read_bytes()
             for split in ("train", "dev") for name in ("news.tsv", "behaviors.tsv")}
    result = import_upload(workspace, store, [("mind.zip", zipped(files))], "zipped")
    assert result["changed"] and result["summary"]["splits"]["dev"]["impressions"] > 0
    assert (workspace.dataset("zipped") / "train" / "news.tsv").is_file()

    files["mind/train/behaviors.tsv"] += b"9999\tU1\tnot a time\t\tN1-1\n"
    with pytest.raises(InputError, match=r"^train/behaviors.tsv:\d+: "):
        import_upload(workspace, store, [("mind.zip", zipped(files))], "broken")
    assert not workspace.dataset("broken").exists() and store.dataset("broken") is None
    assert [p.name for p in workspace.datasets.iterdir()] == ["zipped"]


def test_generate_and_import_refuse_existing_names(workspace, store, tiny_data: Path):
    generate_dataset(workspace, store, "tiny", 3, "t3")
    with pytest.raises(InputError, match="already exists"):
        generate_dataset(workspace, store, "tiny", 3, "t3")
    shutil.copytree(tiny_data, workspace.dataset("copy"))
    assert import_folder(workspace, store, "copy")["dataset"] == "copy"
    with pytest.raises(InputError, match="already exists"):
        import_folder(workspace, store, "copy")
