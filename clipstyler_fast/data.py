"""The content-image DataModule: random crops for training, fixed held-out images for monitoring.

Every training sample is a pure function of ``(seed, index)``: which image (a seeded
permutation per epoch) and where it is cropped. Resuming therefore replays exactly the data
order of an uninterrupted run: the sampler only has to skip what was already consumed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Sampler

from .images import DEFAULT_MAX_PIXELS, ImageReadError, list_images, read_rgb


class DataError(ValueError):
    """A problem with the content folder, reported before any model is loaded."""


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator whose seed is a deterministic mix of ``keys``."""
    seed = 0
    for key in keys:
        seed = (seed * 1_000_003 + int(key)) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def resize_to_cover(image: torch.Tensor, size: int) -> torch.Tensor:
    """Upscale ``(C, H, W)`` keeping its aspect ratio so that its shorter side is at least ``size``."""
    height, width = image.shape[-2:]
    short = min(height, width)
    if short >= size:
        return image
    scale = size / short
    new = (max(size, round(height * scale)), max(size, round(width * scale)))
    out = F.interpolate(image.unsqueeze(0), size=new, mode="bicubic", align_corners=False, antialias=False)
    return out.squeeze(0).clamp(0, 1)


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Crop the central ``size`` x ``size`` square (after upscaling if smaller)."""
    image = resize_to_cover(image, size)
    height, width = image.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return image[:, top : top + size, left : left + size]


class RandomCropDataset(Dataset):
    """Index ``i`` -> a random ``crop_size`` crop of one image, all seeded by ``i``.

    Epoch ``e`` owns indices ``e*per_epoch .. (e+1)*per_epoch - 1``; position ``p`` in it is image
    ``perm_e[p % n]`` (positions past ``n`` wrap around in folders smaller than a batch).

    An unreadable image is replaced by the next one in the permutation; the skipped paths travel
    with the sample so the main process can report each once.
    """

    def __init__(
        self, paths: list[Path], crop_size: int, seed: int, per_epoch: int, max_pixels: int | None = DEFAULT_MAX_PIXELS
    ) -> None:
        self.paths = list(paths)
        self.per_epoch = per_epoch
        self.crop_size = crop_size
        self.seed = seed
        self.max_pixels = max_pixels
        self._perm: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:  # the index space is unbounded; the sampler decides what is used
        return 2**62

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, torch.randperm(len(self.paths), generator=seeded_generator(self.seed, epoch)))
        return self._perm[1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.paths)
        epoch, position = divmod(index, self.per_epoch)
        position %= n
        perm = self._permutation(epoch)
        skipped: list[str] = []
        for attempt in range(n):
            path = self.paths[int(perm[(position + attempt) % n])]
            try:
                image = read_rgb(path, self.max_pixels)
                break
            except ImageReadError as error:
                skipped.append(str(error))
        else:
            raise DataError("no readable image left in the training folder; " + "; ".join(skipped[:3]))
        image = resize_to_cover(image, self.crop_size)
        gen = seeded_generator(self.seed, index, 1)
        height, width = image.shape[-2:]
        top = int(torch.randint(0, height - self.crop_size + 1, (1,), generator=gen))
        left = int(torch.randint(0, width - self.crop_size + 1, (1,), generator=gen))
        crop = image[:, top : top + self.crop_size, left : left + self.crop_size].contiguous()
        return {"image": crop, "index": index, "skipped": skipped}


class EpochSampler(Sampler[int]):
    """Yields the dataset indices of one epoch for this rank, skipping what a resumed run consumed.

    Epoch ``e`` covers indices ``e*per_epoch .. (e+1)*per_epoch - 1``; with several ranks, each
    takes every ``world_size``-th batch.
    """

    def __init__(self, num_images: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.n = num_images
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        group = batch_size * world_size
        self.per_epoch = max(group, (num_images // group) * group)
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_epoch // self.world_size - self.skip_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        base = self.epoch * self.per_epoch
        batches = self.per_epoch // self.batch_size
        start, self.skip_batches = self.skip_batches, 0
        for batch in range(self.rank + start * self.world_size, batches, self.world_size):
            yield from range(base + batch * self.batch_size, base + (batch + 1) * self.batch_size)


class HeldOutDataset(Dataset):
    """Fixed centre crops of the held-out images, for monitoring and preview grids."""

    def __init__(self, paths: list[Path], crop_size: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        self.paths = list(paths)
        self.crop_size = crop_size
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = center_crop(read_rgb(self.paths[index], self.max_pixels), self.crop_size)
        return {"image": image.contiguous(), "index": index, "skipped": []}


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack images and indices; concatenate the skipped-file reports."""
    return {
        "image": torch.stack([s["image"] for s in samples]),
        "index": torch.tensor([s["index"] for s in samples], dtype=torch.long),
        "skipped": [reason for s in samples for reason in s["skipped"]],
    }


def _default_workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))


class ContentDataModule(L.LightningDataModule):
    """A folder of content photos for training a style network.

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
            raise DataError(f"crop_size {crop_size} must be a positive multiple of 8; e.g. --data.crop_size 224")
        if batch_size < 1:
            raise DataError(f"batch_size {batch_size} must be at least 1")
        self.path = Path(path).expanduser()
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.num_holdout = num_holdout
        self.holdout_path = Path(holdout_path).expanduser() if holdout_path else None
        self.num_workers = _default_workers() if num_workers is None else num_workers
        self.max_pixels = max_pixels
        self.seed = seed
        self.train_paths: list[Path] = []
        self.holdout_paths: list[Path] = []
        self._sampler: EpochSampler | None = None
        # path -> reason, for every content file that could not be used (reported at the end).
        self.unreadable: dict[str, str] = {}

    def _scan(self, folder: Path, what: str) -> list[Path]:
        if not folder.exists():
            raise DataError(f"{folder}: {what} folder does not exist; pass an existing folder of images with --data.path")
        paths = list_images(folder)
        if not paths:
            raise DataError(
                f"{folder}: no images found (looked for {', '.join(sorted(s.lstrip('.') for s in ('.jpg', '.png', '.webp', '.bmp', '.tiff')))} and more, recursively)"
            )
        return paths

    def setup(self, stage: str) -> None:
        if self.train_paths:
            return
        paths = self._scan(self.path, "content")
        readable = [p for p in paths if self._readable(p)]
        if not readable:
            raise DataError(f"{self.path}: none of the {len(paths)} image files can be read; check the folder")
        if self.holdout_path is not None:
            self.train_paths = readable
            self.holdout_paths = [p for p in self._scan(self.holdout_path, "held-out") if self._readable(p)]
        elif len(readable) > self.num_holdout and self.num_holdout > 0:
            order = torch.randperm(len(readable), generator=seeded_generator(self.seed, 7)).tolist()
            chosen = set(order[: self.num_holdout])
            self.holdout_paths = [p for i, p in enumerate(readable) if i in chosen]
            self.train_paths = [p for i, p in enumerate(readable) if i not in chosen]
        else:
            self.train_paths, self.holdout_paths = readable, readable[: max(1, self.num_holdout)]

    def _readable(self, path: Path) -> bool:
        reason = header_problem(path)
        if reason is not None:
            self.unreadable[str(path)] = reason
            rank_zero_warn(f"skipping {path}: {reason}")
        return reason is None

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = self.num_workers
        return {
            "num_workers": workers,
            "collate_fn": collate,
            "pin_memory": torch.cuda.is_available(),
            "persistent_workers": workers > 0,
        }

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = EpochSampler(len(self.train_paths), self.batch_size, rank, world)
        if trainer is not None and trainer.global_step > 0:
            # Resuming: skip the batches this epoch already consumed before the interruption.
            batches_done = trainer.global_step * trainer.accumulate_grad_batches
            per_epoch = sampler.per_epoch // (self.batch_size * world)
            sampler.set_epoch(batches_done // per_epoch)
            sampler.skip_batches = batches_done % per_epoch
        self._sampler = sampler
        dataset = RandomCropDataset(self.train_paths, self.crop_size, self.seed, sampler.per_epoch, self.max_pixels)
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader:
        dataset = HeldOutDataset(self.holdout_paths, self.crop_size, self.max_pixels)
        return DataLoader(dataset, batch_size=len(dataset), shuffle=False, **{**self._loader_kwargs(), "num_workers": 0, "persistent_workers": False})

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seed = int(state_dict.get("seed", self.seed))


def header_problem(path: Path) -> str | None:
    """Why ``path`` is not an image, from a cheap header check, or None when it looks fine.

    Full decoding happens later in the workers; files that fail only then are skipped there.
    """
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            img.verify()
        return None
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except Exception as error:  # Pillow raises many types for damaged headers
        return f"unreadable image ({type(error).__name__}: {error})"
