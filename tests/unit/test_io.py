"""io.py: atomic, synced writes of files and folders, and JSON Lines."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

import tuneforge.io as io_module
from tuneforge.io import (
    read_jsonl,
    to_jsonl,
    write_dir_atomic,
    write_file_atomic,
    write_json_atomic,
    write_text_atomic,
)


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Names in ``folder`` besides ``keep`` (temporary files and folders start with a dot)."""
    return sorted(name for name in os.listdir(folder) if name not in keep)


def test_text_and_json_are_written_and_replaced(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "notes.txt"  # the folder is created
    write_text_atomic(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    write_text_atomic(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    document = {"b": 1, "a": [1.5, "x"]}
    write_json_atomic(tmp_path / "doc.json", document)
    text = (tmp_path / "doc.json").read_text(encoding="utf-8")
    assert json.loads(text) == document and text.endswith("}\n") and '  "b": 1' in text
    assert leftovers(tmp_path / "sub", {"notes.txt"}) == []
    assert leftovers(tmp_path, {"sub", "doc.json"}) == []


def test_replacing_a_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    target.write_text("old")
    target.chmod(0o644)
    write_text_atomic(target, "new")
    assert target.stat().st_mode & 0o777 == 0o644


def test_failed_write_removes_the_temporary_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "state.pt"
    write_text_atomic(target, "old")

    def broken(temporary: Path) -> None:
        temporary.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_file_atomic(target, broken)
    assert target.read_text() == "old"
    assert leftovers(tmp_path, {"state.pt"}) == []
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C cleans up too

        def interrupted(temporary: Path) -> None:
            raise KeyboardInterrupt

        write_file_atomic(target, interrupted)
    assert leftovers(tmp_path, {"state.pt"}) == []


def test_file_is_synced_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1]
    )
    synced: list[Path] = []
    real_sync = io_module._fsync
    monkeypatch.setattr(io_module, "_fsync", lambda path: (synced.append(path), real_sync(path)))
    write_text_atomic(tmp_path / "a.txt", "x")
    assert events == ["fsync", "replace", "fsync"]
    assert synced[0].parent == tmp_path and synced[0].name.startswith(".a.txt.")
    assert synced[1] == tmp_path


def test_folders_that_cannot_be_synced_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def no_folder_sync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_folder_sync)
    write_text_atomic(tmp_path / "a.txt", "x")
    write_dir_atomic(tmp_path / "out", lambda folder: (folder / "f").write_text("y"))
    assert (tmp_path / "a.txt").read_text() == "x" and (tmp_path / "out" / "f").read_text() == "y"


def test_write_dir_replaces_an_existing_folder_completely(tmp_path: Path) -> None:
    target = tmp_path / "final"
    target.mkdir()
    (target / "stale.bin").write_text("old weights")
    (target / "nested").mkdir()
    (target / "nested" / "old.txt").write_text("old")

    def fill(folder: Path) -> None:
        (folder / "model.bin").write_text("new weights")
        (folder / "nested").mkdir()
        (folder / "nested" / "config.json").write_text("{}")

    write_dir_atomic(target, fill)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    assert files == ["model.bin", "nested", "nested/config.json"]
    assert (target / "model.bin").read_text() == "new weights"
    assert leftovers(tmp_path, {"final"}) == []  # no staging or retired folder left


def test_failed_fill_leaves_the_old_folder_and_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "final"
    write_dir_atomic(target, lambda folder: (folder / "a").write_text("1"))

    def broken(folder: Path) -> None:
        (folder / "partial").write_text("half")
        raise OSError("no space left")

    with pytest.raises(OSError, match="no space"):
        write_dir_atomic(target, broken)
    assert sorted(os.listdir(target)) == ["a"]
    assert leftovers(tmp_path, {"final"}) == []


def test_jsonl_round_trip_and_invalid_lines(tmp_path: Path) -> None:
    records = [{"step": 1, "loss": 0.5}, {"text": "é"}]
    assert to_jsonl(records) == '{"step": 1, "loss": 0.5}\n{"text": "\\u00e9"}\n'
    assert to_jsonl(records[1:], ensure_ascii=False) == '{"text": "é"}\n'
    path = tmp_path / "m.jsonl"
    path.write_text(to_jsonl(records) + "\n" + '{"step": 2, "lo', encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        read_jsonl(path)
    assert read_jsonl(path, skip_invalid=True) == records  # blank and cut-off lines skipped


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_and_folders_follow_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        assert io_module.current_umask() == umask
        write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
        write_dir_atomic(tmp_path / "final", lambda folder: (folder / "w").write_text("x"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "config.yaml").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "final").stat().st_mode) == 0o777 & ~umask


def test_a_replaced_folder_is_swapped_in_one_step_never_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "final"
    write_dir_atomic(target, lambda folder: (folder / "old.bin").write_text("old"))
    renamed: list[str] = []
    real_rename = Path.rename

    def rename(self: Path, to: Path) -> Path:
        renamed.append(self.name)
        assert self != target, "the old folder was moved away: final/ would be missing"
        return real_rename(self, to)

    def fill(folder: Path) -> None:
        assert sorted(os.listdir(target)) == ["old.bin"]  # the old folder is in place meanwhile
        (folder / "new.bin").write_text("new")

    monkeypatch.setattr(Path, "rename", rename)
    write_dir_atomic(target, fill)
    assert sorted(os.listdir(target)) == ["new.bin"]
    assert renamed == [] and leftovers(tmp_path, {"final"}) == []


def test_folders_are_replaced_by_two_renames_where_swapping_is_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "final"
    write_dir_atomic(target, lambda folder: (folder / "old.bin").write_text("old"))
    monkeypatch.setattr(io_module, "exchange_paths", lambda first, second: False)
    write_dir_atomic(target, lambda folder: (folder / "new.bin").write_text("new"))
    assert sorted(os.listdir(target)) == ["new.bin"]
    assert leftovers(tmp_path, {"final"}) == []


def test_exchange_paths_swaps_two_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one").write_text("1")
    (tmp_path / "b").mkdir()
    if not io_module.exchange_paths(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this system or file system cannot swap paths")
    assert os.listdir(tmp_path / "b") == ["one"] and os.listdir(tmp_path / "a") == []


def test_append_line_reaches_the_file_before_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    with path.open("a", encoding="utf-8") as stream:
        io_module.append_line(stream, '{"step": 1}')
        assert read_jsonl(path) == [{"step": 1}]  # another reader sees it at once
        io_module.append_line(stream, '{"step": 2}\n')
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert io_module.file_sha256(path) == expected
    assert io_module.file_sha256(tmp_path) is None and io_module.file_sha256(None) is None
