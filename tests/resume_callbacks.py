"""Test-only callbacks, given to the real command with ``--trainer.callbacks+=resume_callbacks.NAME``."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

import lightning as L


class SnapshotLast(L.Callback):
    """Copy ``last.ckpt`` to ``<into>/step<N>.ckpt`` at the start of every batch.

    At that moment the file holds what the previous step saved (periodic save, or the re-save
    after validation): exactly what a run killed during the coming step would leave.
    """

    def __init__(self, last: str = "", into: str = "") -> None:
        self.last, self.into = Path(last), Path(into)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self.last.is_file():
            self.into.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.last, self.into / f"step{trainer.global_step}.ckpt")


class SignalAtStep(L.Callback):
    """Send ``signum`` (``times`` times) to this very process at the start of the batch after
    ``step`` optimizer steps."""

    def __init__(self, step: int = 1, signum: int = int(signal.SIGTERM), times: int = 1) -> None:
        self.step, self.signum, self.times = step, signum, times

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)
