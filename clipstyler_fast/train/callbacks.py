"""Side work during training: preview grids and the report of unreadable content files."""

from __future__ import annotations

import shutil
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from torchvision.utils import make_grid, save_image

MAX_PREVIEW_IMAGES = 8


class PreviewImages(L.Callback):
    """Every ``every_n_steps`` (and at the end) log a grid: held-out contents above their stylizations
    (or the rows of the module's ``preview_rows(images)``, when it has one: one row per prompt for
    an any-prompt network, teacher above student for a distilled one).

    The grid goes to TensorBoard when the run logs there, otherwise to PNG files in
    ``<run folder>/previews/``.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every_n_steps = every_n_steps
        self._images: torch.Tensor | None = None
        self._last_step = -1

    def _held_out(self, trainer: L.Trainer) -> torch.Tensor | None:
        if self._images is None:
            datamodule = trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "val_dataloader"):
                return None
            dataset = datamodule.val_dataloader().dataset
            count = min(len(dataset), MAX_PREVIEW_IMAGES)
            if count == 0:
                return None
            self._images = torch.stack([dataset[i]["image"] for i in range(count)])
        return self._images

    @rank_zero_only
    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if step == self._last_step:
            return
        images = self._held_out(trainer)
        if images is None:
            return
        self._last_step = step
        with torch.no_grad():
            # A module may show more than its outputs (a distilled student: teacher above student).
            rows_of = getattr(pl_module, "preview_rows", None)
            rows = rows_of(images.to(pl_module.device)) if rows_of is not None else [images, pl_module(images.to(pl_module.device))]
        grid = make_grid(torch.cat([row.float().clamp(0, 1).cpu() for row in rows]), nrow=len(images), padding=2)
        tensorboard = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if tensorboard is not None:
            tensorboard.experiment.add_image("preview", grid, global_step=step)
            return
        folder = Path(trainer.log_dir or trainer.default_root_dir) / "previews"
        folder.mkdir(parents=True, exist_ok=True)
        save_image(grid, folder / f"step_{step:06d}.png")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self._log(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module)


class UnreadableImageReport(L.Callback):
    """Warn once per content file that could not be decoded, and give the count when training ends."""

    def __init__(self) -> None:
        self.seen: dict[str, None] = {}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        for reason in batch.get("skipped", []) if isinstance(batch, dict) else []:
            if reason not in self.seen:
                self.seen[reason] = None
                rank_zero_warn(f"skipping {reason}")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = len(getattr(trainer.datamodule, "unreadable", {}) or {}) + len(self.seen)
        if total:
            rank_zero_info(f"skipped {total} unreadable content file(s); they were not used for training")


class StepProgressBar(TQDMProgressBar):
    """The training progress bar: optimizer steps out of ``max_steps`` (the run's real budget, however
    the steps fall into epochs), with the time left; a resumed run continues from its step."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = Tqdm(
            desc="Training",
            initial=trainer.global_step,
            total=trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None,
            unit="step",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        """The bar spans the whole run, not an epoch."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        bar = self.train_progress_bar
        if bar is None or bar.disable:
            return
        step = trainer.global_step
        # Every refresh_rate steps, and at the last one.
        if step > bar.n and (step % self.refresh_rate == 0 or step == bar.total):
            bar.update(step - bar.n)
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.train_progress_bar is not None and not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the log folder's version says nothing on a step counter
        return metrics


def run_logger(run_folder: Path, resume: bool, stage: str = "fit") -> Any:
    """The logger of a run: TensorBoard when installed, else CSV, under ``<run_folder>/logs/``.

    A new run logs to the next ``version_N``; a resumed one continues the latest, so that its
    curves go on where they stopped. ``validate`` logs to ``logs/validate``. Nothing is created
    until the first value is logged.
    """
    folder = Path(run_folder) / "logs"
    version: int | str | None = None
    if stage != "fit":
        version = stage
    elif resume:
        numbers = [int(p.name[8:]) for p in folder.glob("version_*") if p.is_dir() and p.name[8:].isdigit()]
        version = max(numbers) if numbers else None
    # TensorBoardLogger writes with tensorboard, or else tensorboardX.
    if find_spec("tensorboard") is not None or find_spec("tensorboardX") is not None:
        return _RunTensorBoardLogger(save_dir=str(run_folder), name="logs", version=version, default_hp_metric=False)
    return _RunCSVLogger(save_dir=str(run_folder), name="logs", version=version)


class _NothingUnlessUsed:
    """A logger that leaves no folder behind when the run failed before logging anything (the
    trainer opens every logger while setting up, before a missing weight file can be found)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        target = Path(self.log_dir)  # type: ignore[attr-defined]
        self._missing = [folder for folder in [target, *target.parents] if not folder.exists()]
        self._used = False

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        self._used = True
        super().log_hyperparams(*args, **kwargs)  # type: ignore[misc]

    def log_metrics(self, *args: Any, **kwargs: Any) -> None:
        self._used = True
        super().log_metrics(*args, **kwargs)  # type: ignore[misc]

    def finalize(self, status: str) -> None:
        if self._used:
            super().finalize(status)  # type: ignore[misc]
            return
        experiment = getattr(self, "_experiment", None)
        if experiment is not None and hasattr(experiment, "close"):
            experiment.close()
        if self._missing and self._missing[0] == Path(self.log_dir):  # type: ignore[attr-defined]
            shutil.rmtree(self._missing[0], ignore_errors=True)
            for folder in self._missing[1:]:
                try:
                    folder.rmdir()
                except OSError:
                    break


class _RunTensorBoardLogger(_NothingUnlessUsed, TensorBoardLogger):
    pass


class _RunCSVLogger(_NothingUnlessUsed, CSVLogger):
    pass
