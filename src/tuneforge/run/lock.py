"""One run per run directory: ``run_dir/.lock`` is held while a stage trains into it.

The lock is an exclusive ``flock`` on the file, which the kernel drops when its process dies
for any reason (SIGKILL and out-of-memory kills included), so a crashed run never leaves a lock
behind that blocks the next one. The file says who holds it (process id, host, start time) for
the message a second run gets. A file left by a dead holder is taken over with a note.
Where ``fcntl`` does not exist (Windows) the file is created with O_EXCL instead, and a holder
that is no longer running on this host is detected by its process id.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tuneforge.errors import TuneforgeError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLocked", "run_lock"]

LOCK_FILE = ".lock"


class RunLocked(TuneforgeError):
    """Another live process is training into the same run directory."""


def _holder(path: Path) -> dict[str, Any]:
    """What a lock file says about its holder ({} when unreadable or empty)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "a process that has not written its details yet"
    started = holder.get("started")
    since = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started)) if started else ""
    return f"process {holder.get('pid')} on {holder.get('host')}{since}"


def _me() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})


def _refuse(run_dir: Path, holder: dict[str, Any]) -> RunLocked:
    return RunLocked(
        f"{run_dir} is in use by another tuneforge run ({_describe(holder)}); two runs cannot "
        "write into one folder: wait for it to end, or choose another directory with output=..."
    )


def _pid_alive(pid: Any) -> bool:
    """True when ``pid`` is a running process on this host (or cannot be checked)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is someone else's
        return True
    return True


def _acquire_flock(run_dir: Path, path: Path, log: Callable[[str], None]) -> int:
    """Open and flock ``path``; returns the descriptor that holds the lock."""
    assert fcntl is not None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refuse(run_dir, _holder(path)) from None
        # The holder we raced may have removed the file after we opened it: lock the live one.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    stale = _holder(path)
    if stale:
        log(f"{run_dir}: taking over the lock left by {_describe(stale)}, which has ended.")
    return fd


def _acquire_exclusive(run_dir: Path, path: Path, log: Callable[[str], None]) -> int:
    """Create ``path`` with O_EXCL (no ``fcntl``); a dead holder on this host is replaced."""
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            holder = _holder(path)
            if holder.get("host") != socket.gethostname() or _pid_alive(holder.get("pid")):
                raise _refuse(run_dir, holder) from None
            log(f"{run_dir}: taking over the lock left by {_describe(holder)}, which has ended.")
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def run_lock(run_dir: Path, *, log: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` for the duration; raises `RunLocked` when a live run holds it.

    ``run_dir`` must exist. The lock file is removed on the way out.
    """
    path = run_dir / LOCK_FILE
    acquire = _acquire_flock if fcntl is not None else _acquire_exclusive
    fd = acquire(run_dir, path, log)
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, _me().encode())
        yield path
    finally:
        # Unlink while still holding the lock, so no one locks the file we are removing.
        path.unlink(missing_ok=True)
        os.close(fd)
