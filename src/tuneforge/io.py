"""Atomic, durable file writes, and the JSON Lines format the run files use.

Everything lands under a temporary name in the target's folder and is renamed when complete,
so a crash or Ctrl-C never leaves a half-written file or folder behind. The temporary file is
flushed to disk (fsync) before the rename and the folder after it, so a power loss right after
the call leaves either the old or the new content, never an empty file. A folder that already
exists is swapped with its replacement in one step (``renameat2(RENAME_EXCHANGE)`` on Linux), so
there is no moment at which the path is missing. New files and folders get the permissions the
user's umask allows (``tempfile`` alone would make them private: 0600 and 0700).

Shared ground below every layer (data, methods, engine and evaluate all write through it).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "InputFileError",
    "append_line",
    "current_umask",
    "exchange_paths",
    "file_sha256",
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


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in /proc/self/status, which is race-free. Elsewhere the only way is
    ``os.umask`` set-and-restore; a file another thread creates in that instant would get
    mode 0o077-masked permissions, which errs on the private side.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _default_mode(*, folder: bool) -> int:
    """What ``open``/``mkdir`` would give a new file or folder under the user's umask."""
    return (0o777 if folder else 0o666) & ~current_umask()


def write_file_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` with ``write(temporary)`` and rename the finished file over it.

    ``write`` receives a fresh empty file in the same folder. The result has the mode of the
    file it replaces, or for a new file the mode the user's umask gives (0644 under umask 022).
    The file is fsynced before the rename and the folder after; on any failure the temporary
    file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        if path.is_file():  # a replaced file keeps its permissions
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        else:
            os.chmod(temporary, _default_mode(folder=False))
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


def append_line(stream: IO[str], line: str) -> None:
    """Append one line to an open text file and hand it to the OS at once (flush).

    A crash then loses at most the line being written; readers of such a file skip a torn last
    line (`read_jsonl` with ``skip_invalid``).
    """
    stream.write(line if line.endswith("\n") else line + "\n")
    stream.flush()


#: ``renameat2`` flag: swap two paths in one step (Linux 3.15+, most local file systems).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths atomically; False where the system cannot (nothing changed).

    Linux's ``renameat2(RENAME_EXCHANGE)``: at every instant each path names one complete
    folder, the old or the new one. Other systems and file systems without it report False.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def write_dir_atomic(path: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with ``fill(staging)`` and move it to ``path`` when complete.

    The new folder is fully written and synced to disk first. An existing ``path`` is then
    swapped with it in one step (`exchange_paths`), so ``path`` always names a complete folder,
    old or new; only where the system cannot swap is the old folder renamed aside for the
    instant between two renames. Nothing of the old folder is left inside the new one. The
    folder gets the permissions of the user's umask (0755 under umask 022).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        os.chmod(staging, _default_mode(folder=True))
        fill(staging)
        _fsync_tree(staging)
        if not path.exists():
            staging.rename(path)
        elif not exchange_paths(staging, path):  # staging now holds the old folder
            retired = path.with_name(f".{path.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            path.rename(retired)
            staging.rename(path)
            shutil.rmtree(retired, ignore_errors=True)
        _fsync(path.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def file_sha256(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes (None for no path, or a path that is not a regular file)."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
