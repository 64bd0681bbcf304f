"""The checkpoint callback of a training run: ``checkpoints/<prompt-slug>/last.ckpt`` and ``style.ckpt``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

from .checkpoints import DEFAULT_ROOT, CheckpointError, slugify

STYLE_FILENAME = "style.ckpt"


class StyleCheckpoint(ModelCheckpoint):
    """Keeps ``last.ckpt`` (full training state, for resuming) and ``style.ckpt`` (weights only, to share
    and predict with) in ``<root>/<prompt-slug>/``, every ``every_n_train_steps`` and at the end.

    Args:
        root: folder that holds one sub-folder per prompt.
        prompt: the prompt the folder is named after (filled in from ``--model.prompt``).
        every_n_train_steps: save this often; a killed run loses at most this many steps.
        overwrite: allow a new run to replace an earlier run's checkpoints in the same folder
            (otherwise it is refused: resume it with ``--ckpt_path last`` or pick another root).
    """

    def __init__(
        self,
        root: str = DEFAULT_ROOT,
        prompt: str | None = None,
        every_n_train_steps: int = 25,
        overwrite: bool = False,
    ) -> None:
        dirpath = Path(root) / (slugify(prompt) if prompt else "pretrain")
        super().__init__(
            dirpath=dirpath,
            save_last=True,
            save_top_k=0,
            every_n_train_steps=every_n_train_steps,
            enable_version_counter=False,
        )
        self.overwrite = overwrite

    @property
    def style_path(self) -> Path:
        return Path(self.dirpath) / STYLE_FILENAME

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage != "fit" or not trainer.is_global_zero:
            return
        folder = Path(self.dirpath)
        last = folder / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
        if last.exists() and trainer.ckpt_path is None and not self.overwrite:
            raise CheckpointError(
                f"{last} already holds an earlier run; resume it with --ckpt_path last, or start over with "
                "--checkpoint.overwrite true, or use another --checkpoint.root"
            )
        probe_writable(folder)

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if Path(filepath).name == f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}":
            trainer.save_checkpoint(self.style_path, weights_only=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        rank_zero_info(f"checkpoints: {self.dirpath}/last.ckpt (resume), {self.style_path} (predict)")


def probe_writable(folder: Path) -> None:
    """Fail now, not after an hour of training, when ``folder`` cannot take a checkpoint."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-", delete=True) as handle:
            handle.write(b"\0" * 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise CheckpointError(
            f"{folder}: cannot write checkpoints here ({error.strerror or error}); free some space or pass another --checkpoint.root"
        ) from None
