"""run/lock.py: one live run per run directory; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import tuneforge
from tuneforge.run.lock import LOCK_FILE, RunLocked, run_lock

SRC = Path(tuneforge.__file__).resolve().parents[1]
HOLD = (
    "import sys, time; from pathlib import Path; from tuneforge.run.lock import run_lock\n"
    "with run_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n"
)


def test_the_lock_names_its_holder_and_is_removed_afterwards(tmp_path: Path) -> None:
    with run_lock(tmp_path) as path:
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert path == tmp_path / LOCK_FILE
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_holder_refuses_a_second_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        pattern = rf"^{tmp_path} is in use by another tuneforge run \(process {holder.pid} on "
        with pytest.raises(RunLocked, match=pattern), run_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    notes: list[str] = []
    with run_lock(tmp_path, log=notes.append):  # the killed holder's lock is free again
        pass
    # The holder wrote when it started; the note says who it was and that it has ended.
    prefix = f"{tmp_path}: taking over the lock left by process {holder.pid} on "
    assert len(notes) == 1 and notes[0].startswith(prefix + socket.gethostname() + " since ")
    assert notes[0].endswith(", which has ended.")


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    notes: list[str] = []
    with run_lock(tmp_path, log=notes.append) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert notes == [
        f"{tmp_path}: taking over the lock left by process {pid} on {socket.gethostname()}, "
        "which has ended."
    ]


def test_without_flock_a_live_pid_refuses_and_a_dead_one_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tuneforge.run.lock as lock

    monkeypatch.setattr(lock, "fcntl", None)
    (tmp_path / LOCK_FILE).write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    )
    with pytest.raises(RunLocked, match=f"process {os.getpid()} on"), run_lock(tmp_path):
        pass
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 7, "host": socket.gethostname()}))
    with run_lock(tmp_path, log=lambda _: None):
        pass
    assert not (tmp_path / LOCK_FILE).exists()
