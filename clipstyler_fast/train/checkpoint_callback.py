"""The checkpoint callback of a training run: ``checkpoints/<prompt-slug>/last.ckpt`` and ``style.ckpt``."""

from __future__ import annotations

import contextlib
import os
import re
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
from clipstyler_fast.io.atomic import remove_stale_temporaries
from clipstyler_fast.train.checkpoint_io import SafeCheckpointIO
from clipstyler_fast.train.preemption import (
    StopRequested,
    StopSignals,
    resume_hint,
    say_line,
    signal_name,
)

STYLE_FILENAME = "style.ckpt"
STUDENT_FILENAME = "student.ckpt"
DEFAULT_ROOT = "checkpoints"
# Adam keeps two tensors per trained weight, so a resumable checkpoint is about three times the weights.
_OPTIMIZER_COPIES = 2


def slugify(text: str) -> str:
    """A folder name for a prompt: lower case, words joined by dashes ("Sketch with black pencil" -> "sketch-with-black-pencil")."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].rstrip("-") or "style"


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
        dirpath = Path(root) / (slugify(prompt) if prompt else "pretrain")
        super().__init__(
            dirpath=dirpath,
            save_last=True,
            save_top_k=0,
            every_n_train_steps=every_n_train_steps,
            enable_version_counter=False,
        )
        self.overwrite = overwrite
        self._stop = StopSignals()
        self._earlier_run: Path | None = None
        self._step_seen = -1

    @property
    def state_key(self) -> str:
        # A run has one such callback: a key without the save interval lets a run resumed with
        # another --checkpoint.every_n_train_steps restore this callback's state.
        return self._generate_state_key()

    @property
    def style_path(self) -> Path:
        return Path(self.dirpath) / STYLE_FILENAME

    @property
    def last_path(self) -> Path:
        return Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"

    # ----------------------------------------------------------------- start-up checks
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage != "fit":
            return
        use_safe_checkpoint_io(trainer)
        self._earlier_run = None
        if not trainer.is_global_zero:
            return
        if self.last_path.exists() and not self.overwrite:
            # Whether this run resumes is only known once Lightning has resolved --ckpt_path
            # (after the setup hooks): decided in on_fit_start, before anything is written.
            self._earlier_run = self.last_path
        folders = {Path(self.dirpath): self._space_needed(pl_module)}
        export = getattr(pl_module, "export_file", None)
        if export is not None:
            folders.setdefault(export.parent, 0)
        for folder, need in folders.items():
            probe_writable(folder, need)
        for stale in remove_stale_temporaries(self.dirpath):
            rank_zero_info(f"removed {stale.name}, left over from a run killed while saving")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._earlier_run is not None and trainer.ckpt_path is None:
            raise CheckpointError(
                f"{self._earlier_run} already holds an earlier run; resume it with `ckpt_path` last, or start over with "
                "`overwrite` true, or use another `root`"
            )
        # Lightning restores the optimizer after this hook, and fails with a trace on a weights-only file.
        loaded = getattr(trainer.strategy.checkpoint_io, "last_loaded", None)
        if trainer.ckpt_path is not None and loaded is not None and not loaded.training_state:
            raise CheckpointError(
                f"{loaded.path}: holds the weights only, not a training state to resume; resume from last.ckpt "
                f"(`ckpt_path` last), or start a new run from these weights with `decoder_init` {loaded.path}"
            )

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
    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if Path(filepath).name == self.last_path.name:
            trainer.save_checkpoint(self.style_path, weights_only=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop.restore()
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        if getattr(pl_module, "export_file", None) is not None:  # decoder pre-training: its export is the product
            rank_zero_info(f"checkpoints: {self.last_path} (resume)")
        else:
            rank_zero_info(f"checkpoints: {self.last_path} (resume), {self.style_path} (predict)")

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
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
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

    @property
    def style_path(self) -> Path:
        return Path(self.dirpath) / STUDENT_FILENAME


def student_folder_name(prompt: str | None) -> str:
    """The folder name of a style's student: ``<prompt-slug>-student``."""
    return f"{slugify(prompt) if prompt else 'style'}-student"


def use_safe_checkpoint_io(trainer: L.Trainer) -> None:
    """Make the trainer write checkpoints atomically and load them safely, unless it was given its own I/O."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = SafeCheckpointIO()


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
