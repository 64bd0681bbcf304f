"""The checkpoint callback of a training run: ``checkpoints/<prompt-slug>/last.ckpt`` and ``style.ckpt``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

from clipstyler_fast.errors import CheckpointError
from clipstyler_fast.io.atomic import atomic_torch_save, remove_stale_temporaries
from clipstyler_fast.nets.style_file import FORMAT_KEY
from clipstyler_fast.nets.style_kinds import STUDENT_NETWORK
from clipstyler_fast.train.callbacks import PreviewImages, UnreadableImageReport
from clipstyler_fast.train.checkpoint_io import SafeCheckpointIO
from clipstyler_fast.train.preemption import StopRequested, StopSignals, resume_hint, say_line, signal_name
from clipstyler_fast.train.run_folder import (
    DEFAULT_ROOT,
    LAST_FILENAME,
    STUDENT_FILENAME,
    STYLE_FILENAME,
    check_can_start,
    check_training_state,
    run_folder,
    student_folder_name,
)

# Adam keeps two tensors per trained weight, so a resumable checkpoint is about three times the weights.
_OPTIMIZER_COPIES = 2
# What a checkpoint holds only to resume training; the style file is the checkpoint without them.
_TRAINING_STATE = ("callbacks", "optimizer_states", "lr_schedulers")


class StyleCheckpoint(ModelCheckpoint):
    """Keeps ``last.ckpt`` (full training state, for resuming) and ``style.ckpt`` (weights only, to share
    and predict with) in ``<root>/<prompt-slug>/``, every ``every_n_train_steps`` and at the end.

    Every file is written atomically (temporary file, then rename), so a run killed at any moment
    leaves the previous complete checkpoint. SIGTERM and SIGINT (Ctrl+C) stop the run at the next
    step boundary with a checkpoint saved there, from which ``--ckpt_path last`` resumes exactly.

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
        super().__init__(
            dirpath=run_folder(root, prompt),
            save_last=True,
            save_top_k=0,
            every_n_train_steps=every_n_train_steps,
            enable_version_counter=False,
        )
        self.root, self.prompt, self.overwrite = root, prompt, overwrite
        self._stop = StopSignals()
        self._step_seen = -1
        self._step_saved = -1

    @property
    def state_key(self) -> str:
        # A run has one such callback: a key without the save interval lets a run resumed with
        # another --checkpoint.every_n_train_steps restore this callback's state (the key that
        # Lightning gives a callback without arguments, so that earlier checkpoints still match).
        return f"{type(self).__qualname__}{{}}"

    @property
    def style_path(self) -> Path:
        return Path(self.dirpath) / STYLE_FILENAME

    @property
    def last_path(self) -> Path:
        return Path(self.dirpath) / LAST_FILENAME

    # ----------------------------------------------------------------- start-up checks
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage != "fit":
            return
        # Checkpoints written atomically and loaded safely, unless the trainer was given its own I/O.
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = SafeCheckpointIO()
        if not trainer.is_global_zero:
            return
        folders = {Path(self.dirpath): self._space_needed(pl_module)}
        export = getattr(pl_module, "export_file", None)
        if export is not None:
            folders.setdefault(export.parent, 0)
        for folder, need in folders.items():
            probe_writable(folder, need)
        for stale in remove_stale_temporaries(self.dirpath):
            rank_zero_info(f"removed {stale.name}, left over from a run killed while saving")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Here, not in setup: whether this run resumes is only known once Lightning has resolved
        # --ckpt_path (after the setup hooks), and nothing has been written yet.
        if trainer.is_global_zero:
            check_can_start(self.last_path, trainer.ckpt_path, self.overwrite)
        # Lightning restores the optimizer after this hook, and fails with a trace on a weights-only file.
        loaded = getattr(trainer.strategy.checkpoint_io, "last_loaded", None)
        if trainer.ckpt_path is not None and loaded is not None:
            check_training_state(loaded.path, loaded.training_state)

    def _space_needed(self, pl_module: L.LightningModule) -> int:
        """Free bytes the checkpoint folder must have: a new ``last.ckpt`` is written beside the old one."""
        weights = sum(t.numel() * t.element_size() for t in pl_module.state_dict().values())
        trained = sum(p.numel() * p.element_size() for p in pl_module.parameters() if p.requires_grad)
        last = weights + _OPTIMIZER_COPIES * trained
        need = last  # the temporary copy during an atomic replace
        if not self.last_path.exists():
            need += last
        if not self.style_path.exists():
            need += weights
        return need

    # ----------------------------------------------------------------- saving
    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._step_saved = trainer.global_step

    def save_last_now(self, trainer: L.Trainer) -> None:
        """Save ``last.ckpt`` now, unless this step is saved already (every rank calls it)."""
        if self._step_saved != trainer.global_step:
            trainer.save_checkpoint(self.last_path)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop.restore()
        self.save_last_now(trainer)
        # Decoder pre-training (a module with an export file): its export is the product, not a style file.
        product = "" if getattr(pl_module, "export_file", None) is not None else f", {self.style_path} (predict)"
        rank_zero_info(f"checkpoints: {self.last_path} (resume){product}")

    # ----------------------------------------------------------------- graceful stop
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        # Installed here, after Lightning's own SIGTERM handler (which would stop in the middle
        # of validation): our handlers decide where to stop, and Lightning's teardown puts the
        # original handlers back.
        self._stop.install()
        self._step_seen = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        stepped, self._step_seen = trainer.global_step != self._step_seen, trainer.global_step
        if not stepped:  # in the middle of gradient accumulation: not a step boundary
            return
        stop = self._stop.requested
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop or (trainer.max_steps >= 0 and trainer.global_step >= trainer.max_steps):
            return  # nothing asked, or the run ends normally after this step anyway
        self.save_last_now(trainer)
        signum = self._stop.signum or int(signal.SIGTERM)  # a rank told by another one
        self._stop.restore()
        self._announce_stop(trainer, signum)
        raise StopRequested(signum)

    @rank_zero_only
    def _announce_stop(self, trainer: L.Trainer, signum: int) -> None:
        say_line(f"stopped by {signal_name(signum)} after step {trainer.global_step}; saved {self.last_path}\n{resume_hint()}")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._stop.restore()
        super().on_exception(trainer, pl_module, exception)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._stop.restore()
        super().teardown(trainer, pl_module, stage)


class StudentCheckpoint(StyleCheckpoint):
    """:class:`StyleCheckpoint` of a distillation: ``last.ckpt`` and ``student.ckpt`` in ``<root>/<prompt-slug>-student/``.

    Args:
        root: folder that holds one sub-folder per distilled style.
        prompt: the teacher's prompt the folder is named after (filled in from the teacher).
        every_n_train_steps: save this often; a killed run loses at most this many steps.
        overwrite: allow a new run to replace an earlier run's checkpoints in the same folder.
    """

    def __init__(self, root: str = DEFAULT_ROOT, prompt: str | None = None, every_n_train_steps: int = 50, overwrite: bool = False) -> None:
        super().__init__(root, student_folder_name(prompt), every_n_train_steps, overwrite)
        self.prompt = prompt

    def name_after(self, prompt: str | None) -> None:
        """Name the folder after the distilled prompt, when it was not given (a style's own prompt is
        known once the module has read its teacher; ``--ckpt_path last`` needs it before fitting)."""
        if self.prompt is None:
            self.dirpath = os.path.realpath(run_folder(self.root, student_folder_name(prompt)))

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.name_after(pl_module.distilled_prompt)
        super().setup(trainer, pl_module, stage)

    @property
    def style_path(self) -> Path:
        return Path(self.dirpath) / STUDENT_FILENAME


class StyleFileWriter(L.Callback):
    """Puts the module's record (:meth:`style_record`) in every checkpoint the trainer saves, and
    writes the run's product beside the checkpoints: that checkpoint without its training state,
    ``style.ckpt`` (``student.ckpt`` for a distilled student) to share and predict with."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        record = pl_module.style_record()
        checkpoint[FORMAT_KEY] = record.to_dict()
        callback = trainer.checkpoint_callback
        if callback is None or callback.dirpath is None or not trainer.is_global_zero:
            return
        training_state = {*_TRAINING_STATE, type(trainer.precision_plugin).__qualname__}
        product = {k: v for k, v in checkpoint.items() if k not in training_state}
        name = STUDENT_FILENAME if record.network == STUDENT_NETWORK else STYLE_FILENAME
        atomic_torch_save(product, Path(callback.dirpath) / name)


def style_callbacks(preview_every_n_steps: int) -> list[L.Callback]:
    """A training module's own callbacks: :class:`StyleFileWriter`, the report of unreadable content
    files, and a preview grid every ``preview_every_n_steps`` steps (0: none)."""
    callbacks: list[L.Callback] = [StyleFileWriter(), UnreadableImageReport()]
    if preview_every_n_steps > 0:
        callbacks.append(PreviewImages(preview_every_n_steps))
    return callbacks


def probe_writable(folder: Path, need_bytes: int = 0) -> None:
    """Fail now, not after an hour of training, when ``folder`` cannot take a checkpoint.

    Writes and syncs a small file in it and checks that ``need_bytes`` are free. Folders it had
    to create for that are removed again, so that a run that fails at start-up leaves nothing.
    """
    created = [parent for parent in [folder, *folder.parents] if not parent.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-", delete=True) as handle:
            handle.write(b"\0" * 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise CheckpointError(
            f"{folder}: cannot write checkpoints here ({error.strerror or error}); free some space or pass another `root`"
        ) from None
    finally:
        for empty in created:  # deepest first
            with contextlib.suppress(OSError):
                empty.rmdir()
    if free < need_bytes:
        raise CheckpointError(
            f"{folder}: only {free / 2**20:.0f} MiB free, checkpoints need about {need_bytes / 2**20:.0f} MiB; "
            "free some space or pass another `root`"
        )
