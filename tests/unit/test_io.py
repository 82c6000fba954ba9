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
