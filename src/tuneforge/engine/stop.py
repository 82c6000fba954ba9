"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (``kill``, job schedulers).

The first signal asks the loop to stop at the next step boundary, where it saves a checkpoint
and returns; a second one stops at once, without saving anything (the run then continues from
its last complete checkpoint).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["STOP_SIGNALS", "StopRequest", "StoppedWithoutSaving"]


class StoppedWithoutSaving(BaseException):  # noqa: N818  (a stop, like KeyboardInterrupt)
    """A second SIGINT/SIGTERM: the run stopped at once, in the middle of a step, unsaved.

    A BaseException so that no ``except Exception`` on the way out can swallow it; the run
    continues from its last complete checkpoint.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The signals that ask a run to stop: Ctrl-C, and what schedulers and ``kill`` send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """SIGINT/SIGTERM handlers that ask the loop to stop at the next step boundary.

    The first signal only sets a flag, checked between steps, so the checkpoint never captures
    a half-applied update; a second one raises `StoppedWithoutSaving` wherever the run is.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.signum is not None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise StoppedWithoutSaving(signum)
        self.signum = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Install the handlers for the duration (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
