"""Atomic, durable file writes, and the JSON Lines format the run files use.

Everything lands under a temporary name in the target's folder and is renamed when complete,
so a crash or Ctrl-C never leaves a half-written file or folder behind. The temporary file is
flushed to disk (fsync) before the rename and the folder after it, so a power loss right after
the call leaves either the old or the new content, never an empty file.

Shared ground below every layer (data, methods, engine and evaluate all write through it).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "InputFileError",
    "read_input_file",
    "read_jsonl",
    "to_jsonl",
    "write_dir_atomic",
    "write_file_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

#: fsync errors of file systems that cannot sync a folder (they are ignored there).
_UNSYNCABLE = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to disk; a folder that cannot be synced is skipped."""
    if path.is_dir() and os.name == "nt":  # Windows cannot open a folder for fsync
        return
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    except OSError as exc:
        if not path.is_dir() or exc.errno not in _UNSYNCABLE:
            raise
    finally:
        os.close(handle)


def _fsync_tree(folder: Path) -> None:
    """fsync every file and folder under ``folder``, the folder itself last."""
    for root, _folders, files in os.walk(folder, topdown=False):
        for name in files:
            if not Path(root, name).is_symlink():
                _fsync(Path(root, name))
        _fsync(Path(root))


def write_file_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` with ``write(temporary)`` and rename the finished file over it.

    ``write`` receives a fresh empty file in the same folder. The result has mode 0600, or the
    mode of the file it replaces. The file is fsynced before the rename and the folder after;
    on any failure the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        if path.is_file():  # a replaced file keeps its permissions
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file in the same folder."""

    def write(temporary: Path) -> None:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)

    write_file_atomic(path, write)


def write_json_atomic(path: Path, document: Any) -> None:
    """Write ``document`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


def write_dir_atomic(path: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with ``fill(staging)`` and rename it to ``path`` when complete.

    An existing ``path`` is replaced only after the new folder is fully written (and synced to
    disk); nothing of the old folder is left inside the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(staging)
        _fsync_tree(staging)
        if path.exists():
            retired = path.with_name(f".{path.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            path.rename(retired)
            staging.rename(path)
            _fsync(path.parent)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(path)
            _fsync(path.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def to_jsonl(records: Iterable[Any], *, ensure_ascii: bool = True) -> str:
    """JSON Lines text: each record on one line (``json.dumps``), each line ending in ``\\n``."""
    return "".join(json.dumps(record, ensure_ascii=ensure_ascii) + "\n" for record in records)


def read_jsonl(path: Path, *, skip_invalid: bool = False) -> list[Any]:
    """The records of a JSON Lines file, in order; blank lines are skipped.

    A line that is not JSON raises ``json.JSONDecodeError``, or is skipped with
    ``skip_invalid`` (a file cut short by a crash ends in half a line).
    """
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if not skip_invalid:
                raise
    return records


#: Raises the size limit of input files (data and configs) to this many megabytes.
MAX_FILE_MB_ENV = "TUNEFORGE_MAX_FILE_MB"

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class InputFileError(Exception):
    """An input path that is not a readable regular file of a sane size; the message says why.

    The message does not name the path: callers put it in their own ``FILE: ...`` format.
    """


def max_file_bytes(default_mb: float) -> int:
    """The size limit of an input file: ``TUNEFORGE_MAX_FILE_MB`` if set, else ``default_mb``."""
    raw = os.environ.get(MAX_FILE_MB_ENV)
    if raw is None or not raw.strip():
        return int(default_mb * 1024 * 1024)
    try:
        mb = float(raw)
    except ValueError:
        mb = float("nan")
    if not (mb > 0 and mb < 1e12):
        raise InputFileError(f"{MAX_FILE_MB_ENV}={raw!r} must be a positive number of megabytes")
    return int(mb * 1024 * 1024)


def read_input_file(path: Path, *, what: str, default_mb: float) -> bytes:
    """The bytes of ``path``, which must be a regular file no larger than the size limit.

    A FIFO, a device, a socket or a folder is refused without reading from it (so nothing hangs
    or reads forever); so is a file over ``default_mb`` megabytes (``TUNEFORGE_MAX_FILE_MB``
    raises it). ``what`` names the file in messages ("data file", "config file").
    Raises FileNotFoundError when it does not exist, InputFileError for the rest.
    """
    limit = max_file_bytes(default_mb)
    # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise InputFileError(f"is a folder, not a {what}") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputFileError(f"cannot open the {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            mode = info.st_mode
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise InputFileError(f"is {kind}, not a regular file; give the path of a {what}")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        # A regular file's size is known up front: refuse before reading a byte of it.
        data = b"" if info.st_size > limit else handle.read()
    if info.st_size > limit or len(data) > limit:
        raise InputFileError(
            f"the {what} is larger than {limit / 1024 / 1024:g} MB; "
            f"set {MAX_FILE_MB_ENV} to a larger number of megabytes to read it"
        )
    return data
