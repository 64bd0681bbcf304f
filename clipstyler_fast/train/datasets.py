"""The content datasets: random crops for training, centre crops of held-out images.

A training sample is a pure function of ``(seed, index)``: which image (a seeded permutation
per epoch) and where it is cropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from clipstyler_fast.errors import DataError, ImageReadError
from clipstyler_fast.io.images import DEFAULT_MAX_PIXELS, read_rgb
from clipstyler_fast.train.sampling import seeded_generator


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

    def __init__(self, paths: list[Path], crop_size: int, seed: int, per_epoch: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        self.paths = list(paths)
        self.per_epoch = per_epoch
        self.crop_size = crop_size
        self.seed = seed
        self.max_pixels = max_pixels
        self._perm: tuple[int, torch.Tensor] | None = None
        # Files that failed to decode in this process: skipped without decoding them again. The
        # replacement image does not depend on this cache, so the data order is the same with or
        # without it (and in every worker).
        self._unreadable: set[int] = set()

    def __len__(self) -> int:  # the index space is unbounded; the sampler decides what is used
        return 2**62

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.paths)
        epoch, position = divmod(index, self.per_epoch)
        position %= n
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, torch.randperm(n, generator=seeded_generator(self.seed, epoch)))
        perm = self._perm[1]
        skipped: list[str] = []
        for attempt in range(n):
            which = int(perm[(position + attempt) % n])
            if which in self._unreadable:
                continue
            try:
                image = read_rgb(self.paths[which], self.max_pixels)
                break
            except ImageReadError as error:
                self._unreadable.add(which)
                skipped.append(str(error))
        else:
            raise DataError(f"no readable image left among the {n} training images (the files changed during training?)")
        image = resize_to_cover(image, self.crop_size)
        gen = seeded_generator(self.seed, index, 1)
        height, width = image.shape[-2:]
        top = int(torch.randint(0, height - self.crop_size + 1, (1,), generator=gen))
        left = int(torch.randint(0, width - self.crop_size + 1, (1,), generator=gen))
        crop = image[:, top : top + self.crop_size, left : left + self.crop_size].contiguous()
        return {"image": crop, "index": index, "skipped": skipped}


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
