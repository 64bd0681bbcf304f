"""Stopping a training run cleanly on SIGTERM (how cluster schedulers pre-empt jobs) and SIGINT (Ctrl+C).

A signal only records that a stop was asked for. The checkpoint callback then stops at the next
optimizer-step boundary, saves ``last.ckpt`` exactly as its periodic saves do (so resuming from
it is as exact as resuming from any other checkpoint) and exits with status ``128 + signal``,
the shell's convention for "ended by a signal". A second Ctrl+C stops at once, without saving;
the last complete checkpoint stays intact because every save replaces the file atomically.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How the console command can be named in sys.argv[0] (installed script, or ``python -m clipstyler_fast``).
_COMMAND_NAMES = ("clipstyler-fast", "__main__.py")
_TRAINING_COMMANDS = ("fit", "pretrain", "distill")


class SignalExit(SystemExit):
    """An exit caused by the signal ``signum``; the exit status is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class StopRequested(SignalExit):
    """Raised at a step boundary after a stop signal."""


class StopNow(SignalExit):
    """Raised by a second Ctrl+C: stop at once, without saving.

    A SystemExit rather than a KeyboardInterrupt, so that the trainer tears down quietly (its
    own KeyboardInterrupt handling announces a "graceful shutdown" and exits with status 1).
    """


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """Records SIGTERM/SIGINT instead of dying, while installed (main thread only)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def install(self) -> None:
        """Start recording stop signals; clears an earlier request."""
        self.signum = None
        if threading.current_thread() is not threading.main_thread():
            return  # Python only lets the main thread set signal handlers
        for signum in STOP_SIGNALS:
            self._previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            _say("second Ctrl+C: stopping now without saving; the last saved checkpoint is kept")
            raise StopNow(signum)
        if self.signum is None:
            _say(
                f"received {signal_name(signum)}: finishing the current step, then saving a checkpoint and stopping"
                + (" (press Ctrl+C again to stop at once)" if signum == signal.SIGINT else "")
            )
        self.signum = signum


def _say(text: str) -> None:
    # os.write, not print: a signal handler can interrupt a print() to the same stream. The
    # leading line break ends a progress bar's line, so that the message stands on its own.
    try:
        os.write(sys.stderr.fileno(), f"\n{text}\n".encode())
    except (OSError, ValueError, AttributeError):
        pass


def say_line(text: str) -> None:
    """Print ``text`` to stderr on a line of its own, clear of any progress bar (not from a signal handler)."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)
    sys.stderr.flush()


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers leave SIGINT/SIGTERM to the main process.

    Ctrl+C in a terminal reaches every process of the group; a worker that died of it would take
    the main process's graceful stop down with it.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def resume_command(argv: list[str] | None = None) -> str | None:
    """The command line that resumes this run, when this process is ``clipstyler-fast fit/pretrain``."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or Path(argv[0]).name not in _COMMAND_NAMES or argv[1] not in _TRAINING_COMMANDS:
        return None
    args: list[str] = []
    rest = iter(argv[1:])
    for arg in rest:
        given = next(rest, None) if arg == "--ckpt_path" else arg.removeprefix("--ckpt_path=") if arg.startswith("--ckpt_path=") else None
        if given is None:
            args.append(arg)
        elif argv[1] == "distill" and given != "last":  # distill's --ckpt_path STYLE.ckpt names its teacher
            args += ["--model.teacher", given]
    return shlex.join(["clipstyler-fast", *args, "--ckpt_path", "last"])


def resume_hint(argv: list[str] | None = None) -> str:
    """One line telling how to continue an interrupted run."""
    command = resume_command(argv)
    if command is not None:
        return f"to resume: {command}"
    return "to resume, run the same command again with --ckpt_path last (Python: trainer.fit(..., ckpt_path='last'))"
