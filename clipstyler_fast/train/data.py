"""The content-image DataModule: random crops for training, fixed held-out images for monitoring.

Every training sample is a pure function of ``(seed, index)``: which image (a seeded
permutation per epoch) and where it is cropped. Resuming therefore replays exactly the data
order of an uninterrupted run: the sampler only has to skip what was already consumed, and it
counts that from the trainer's optimizer steps, not from Lightning's epoch and batch counters
(those restart differently depending on where the checkpoint was written).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader

from clipstyler_fast.errors import DataError, ImageReadError
from clipstyler_fast.io.images import DEFAULT_MAX_PIXELS, list_images, probe_image, read_rgb
from clipstyler_fast.train.datasets import HeldOutDataset, RandomCropDataset, collate
from clipstyler_fast.train.preemption import ignore_stop_signals
from clipstyler_fast.train.run_folder import check_image_folder
from clipstyler_fast.train.sampling import EpochSampler, ResumableDataLoader, seeded_generator


class ContentDataModule(L.LightningDataModule):
    """A folder of content photos for training a style network.

    Files that cannot be used (empty, not an image, damaged or truncated) are skipped with one
    warning each and counted at the end; a folder without any readable image is an error raised
    in ``setup``, before any model is loaded.

    Args:
        path: folder of content images (searched recursively; jpg, png, webp, bmp, tiff, gif).
        batch_size: content crops per training step.
        crop_size: side of the random square training crops, in pixels (a multiple of 8).
        num_holdout: images kept out of training and used for monitoring and previews (the
            first ones of a seeded shuffle; none when the folder has too few images).
        holdout_path: a separate folder of held-out images instead of taking them from ``path``.
        num_workers: DataLoader worker processes (default: up to 4, one fewer than the CPUs).
        max_pixels: images with more pixels are refused as possible decompression bombs.
        seed: seed of the data order and crops (kept in checkpoints so a resumed run replays it).
    """

    def __init__(
        self,
        path: str = "data/samples",
        batch_size: int = 4,
        crop_size: int = 224,
        num_holdout: int = 2,
        holdout_path: str | None = None,
        num_workers: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if crop_size % 8 or crop_size <= 0:
            raise DataError(f"crop_size {crop_size} must be a positive multiple of 8; e.g. `crop_size` 224")
        if batch_size < 1:
            raise DataError(f"batch_size {batch_size} must be at least 1")
        self.path = Path(path).expanduser()
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.num_holdout = num_holdout
        self.holdout_path = Path(holdout_path).expanduser() if holdout_path else None
        self.num_workers = min(4, max(0, (os.cpu_count() or 1) - 1)) if num_workers is None else num_workers
        self.max_pixels = max_pixels
        self.seed = seed
        self.train_paths: list[Path] = []
        self.holdout_paths: list[Path] = []
        self._readable_paths: list[Path] = []
        self._holdout_candidates: list[Path] | None = None
        # path -> reason, for every content file that could not be used (reported at the end).
        self.unreadable: dict[str, str] = {}

    def _usable(self, folder: Path, what: str) -> list[Path]:
        """The images of ``folder`` that pass the header check, or a :class:`DataError` when none can be decoded.

        Header checks pass for truncated files, so the first one that passes is also decoded fully
        here: a folder of damaged files fails now rather than inside a DataLoader worker.
        """
        paths = list_images(check_image_folder(folder, what))
        if not paths:
            raise DataError(f"{folder}: no images found (looked for bmp, jpg, png, tiff, webp and more, recursively)")
        _report_other_files(folder, paths)
        readable = [p for p in paths if self._readable(p)]
        if next((p for p in readable if self._decodes(p)), None) is None:
            raise DataError(
                f"{folder}: none of the {len(paths)} image files can be read (see the warnings above); "
                f"put readable images in the {what} folder"
            )
        return [p for p in readable if str(p) not in self.unreadable]

    def setup(self, stage: str) -> None:
        if self._readable_paths:
            return
        self._readable_paths = self._usable(self.path, "content")
        if self.holdout_path is not None:
            self._holdout_candidates = self._usable(self.holdout_path, "held-out")
        self._split()

    def _split(self) -> None:
        """Choose the held-out images (seeded) and train on the rest; held-out files are decoded now."""
        readable = self._readable_paths
        if self._holdout_candidates is not None:
            self.train_paths = readable
            self.holdout_paths = [p for p in self._holdout_candidates if self._decodes(p)]
            return
        if len(readable) > self.num_holdout > 0:
            order = torch.randperm(len(readable), generator=seeded_generator(self.seed, 7)).tolist()
            chosen: list[int] = []
            for i in order:
                if len(chosen) == self.num_holdout or len(readable) - len(chosen) <= 1:
                    break
                if self._decodes(readable[i]):
                    chosen.append(i)
            picked = set(chosen)
            self.holdout_paths = [p for i, p in enumerate(readable) if i in picked]
            self.train_paths = [p for i, p in enumerate(readable) if i not in picked and str(p) not in self.unreadable]
        else:
            self.train_paths = readable
            self.holdout_paths = [p for p in readable if self._decodes(p)][: max(1, self.num_holdout)]

    def _readable(self, path: Path) -> bool:
        """A cheap header check; full decoding happens later in the workers, which skip files that fail only then."""
        return self._passes(path, lambda: probe_image(path, self.max_pixels, verify=True, oriented=False))

    def _decodes(self, path: Path) -> bool:
        return str(path) not in self.unreadable and self._passes(path, lambda: read_rgb(path, self.max_pixels))

    def _passes(self, path: Path, check: Callable[[], object]) -> bool:
        """Whether ``check()`` reads ``path``; a file that fails is recorded in ``unreadable`` and warned about once."""
        try:
            check()
            return True
        except ImageReadError as error:
            if str(path) not in self.unreadable:
                self.unreadable[str(path)] = error.reason
                rank_zero_warn(f"skipping {path}: {error.reason}")
            return False

    def _loader_kwargs(self, workers: int) -> dict[str, Any]:
        return {
            "num_workers": workers,
            "collate_fn": collate,
            "pin_memory": torch.cuda.is_available(),
            "persistent_workers": workers > 0,
            # Workers leave SIGINT/SIGTERM to the main process, which stops at a step boundary.
            "worker_init_fn": ignore_stop_signals if workers > 0 else None,
        }

    def consumed_batches(self) -> int:
        """Training batches this rank has consumed, from the trainer's (restored) optimizer steps."""
        trainer = self.trainer
        if trainer is None:
            return 0
        accumulate = trainer.accumulate_grad_batches
        if accumulate == 1:
            return trainer.global_step
        # Lightning also steps on an epoch's last batch when the accumulation is not complete.
        per_epoch = EpochSampler(len(self.train_paths), self.batch_size, 0, trainer.world_size).batches_per_epoch
        steps_per_epoch = -(-per_epoch // accumulate)
        epochs, steps = divmod(trainer.global_step, steps_per_epoch)
        return epochs * per_epoch + steps * accumulate

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        counter = self.consumed_batches if trainer is not None else None
        sampler = EpochSampler(len(self.train_paths), self.batch_size, rank, world, counter)
        dataset = RandomCropDataset(self.train_paths, self.crop_size, self.seed, sampler.per_epoch, self.max_pixels)
        return ResumableDataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True, **self._loader_kwargs(self.num_workers)
        )

    def val_dataloader(self) -> DataLoader:
        dataset = HeldOutDataset(self.holdout_paths, self.crop_size, self.max_pixels)
        return DataLoader(dataset, batch_size=len(dataset), shuffle=False, **self._loader_kwargs(0))

    def _fingerprint(self) -> str:
        root = self.path if self.path.is_dir() else self.path.parent
        names = "\n".join(str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in self.train_paths)
        return hashlib.sha1(names.encode()).hexdigest()

    def state_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "batch_size": self.batch_size,
            "crop_size": self.crop_size,
            "num_train_images": len(self.train_paths),
            "train_files_sha1": self._fingerprint(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        seed = int(state_dict.get("seed", self.seed))
        if seed != self.seed:
            rank_zero_info(f"resuming with the checkpoint's data seed {seed} (not {self.seed}) to replay its data order")
            self.seed = seed
            if self._readable_paths:
                self._split()
        for key in ("batch_size", "crop_size"):
            then, now = state_dict.get(key, getattr(self, key)), getattr(self, key)
            if then != now:
                rank_zero_warn(
                    f"`{key}` is {now} but the checkpoint was trained with {then}; the resumed run does not replay the same data"
                )
        if self.train_paths and state_dict.get("train_files_sha1", self._fingerprint()) != self._fingerprint():
            rank_zero_warn(
                f"the training images in {self.path} differ from those of the checkpoint's run "
                f"({len(self.train_paths)} now, {state_dict.get('num_train_images')} then); the resumed run does not replay the same data"
            )


def _report_other_files(folder: Path, images: list[Path]) -> None:
    """One line about files that are skipped because their extension is not an image's."""
    if not folder.is_dir():
        return
    found = set(images)
    others = [
        p
        for p in folder.rglob("*")
        if p not in found and p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if others:
        rank_zero_info(f"ignoring {len(others)} file(s) in {folder} that are not images by their extension (e.g. {others[0].name})")
