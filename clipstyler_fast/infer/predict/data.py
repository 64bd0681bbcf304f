"""Input side of ``predict``: find images, read their sizes, and batch equal sizes together.

Images are decoded in DataLoader workers. Each batch holds images of one size only (so they
stack without resizing), at most ``batch_size`` of them and at most ``max_batch_pixels`` pixels
in all. With several processes, whole batches are dealt out so that every image goes to
exactly one process (nothing is repeated to even out the counts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from clipstyler_fast.errors import DataError, ImageReadError
from clipstyler_fast.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    list_images,
    long_side_size,
    open_image,
    probe_image,
    resize_long_side,
    to_tensors,
)


@dataclass(frozen=True)
class InputImage:
    """One input file: where it is, where its output goes (relative), and its size once read."""

    path: Path
    relative: Path
    size: tuple[int, int] | None = None  # (height, width) after orientation and resizing


def find_inputs(paths: list[str | Path]) -> list[InputImage]:
    """Every image under each folder (recursive, relative to that folder) and each file (by its name)."""
    found: list[InputImage] = []
    for entry in paths:
        root = Path(entry).expanduser()
        if root.is_dir():
            found += [InputImage(p, p.relative_to(root)) for p in list_images(root)]
        elif root.is_file():
            found.append(InputImage(root, Path(root.name)))
        else:
            raise DataError(f"{root}: no such file or folder; pass an image folder or image files as `path`")
    return found


def probe_size(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of an image as it will be decoded, from its header (see :func:`probe_image`)."""
    width, height = probe_image(path, max_pixels)
    return height, width


class PredictDataset(Dataset):
    """Item ``i``: ``{"index", "image" (3, H, W) in [0, 1], "alpha" (1, H, W) or None}``, or ``{"index", "error"}``."""

    def __init__(self, inputs: list[InputImage], max_pixels: int | None = DEFAULT_MAX_PIXELS, long_side: int | None = None) -> None:
        self.inputs = inputs
        self.max_pixels = max_pixels
        self.long_side = long_side

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.inputs[index]
        try:
            rgb, alpha = to_tensors(open_image(item.path, self.max_pixels))
        except ImageReadError as error:
            return {"index": index, "error": error.reason}
        except Exception as error:  # a decoder bug must cost one image, not the whole run
            return {"index": index, "error": f"cannot decode ({type(error).__name__}: {error})"}
        rgb = resize_long_side(rgb, self.long_side)
        alpha = None if alpha is None else resize_long_side(alpha, self.long_side)
        return {"index": index, "image": rgb, "alpha": alpha}


def collate_predict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a batch's images by size: ``{"groups": [(indices, images, alphas)], "failed": [(index, reason)]}``.

    Batches are planned to hold one size; grouping here still copes with a file whose decoded
    size differs from what its header said.
    """
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    failed = []
    for item in items:
        if "error" in item:
            failed.append((item["index"], item["error"]))
        else:
            groups[tuple(item["image"].shape[-2:])].append(item)
    stacked = [
        ([it["index"] for it in members], torch.stack([it["image"] for it in members]), [it["alpha"] for it in members])
        for members in groups.values()
    ]
    return {"groups": stacked, "failed": failed}


def plan_batches(sizes: dict[int, tuple[int, int]], batch_size: int, max_batch_pixels: int) -> list[list[int]]:
    """Batches of indices with equal sizes: at most ``batch_size`` images and ``max_batch_pixels`` pixels each."""
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index in sorted(sizes):
        by_size[sizes[index]].append(index)
    batches = []
    for (height, width), indices in sorted(by_size.items()):
        per_batch = max(1, min(batch_size, max_batch_pixels // max(1, height * width)))
        batches += [indices[i : i + per_batch] for i in range(0, len(indices), per_batch)]
    return batches


def deal_batches(batches: list[list[int]], sizes: dict[int, tuple[int, int]], world_size: int) -> list[list[list[int]]]:
    """Give each process whole batches, balancing pixel counts; every batch goes to exactly one process."""
    shares: list[list[list[int]]] = [[] for _ in range(world_size)]
    loads = [0] * world_size
    cost = {tuple(b): sum(sizes[i][0] * sizes[i][1] for i in b) for b in batches}
    for batch in sorted(batches, key=lambda b: (-cost[tuple(b)], b[0])):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        shares[rank].append(batch)
        loads[rank] += cost[tuple(batch)]
    return [sorted(share, key=lambda b: b[0]) for share in shares]


class SizeGroupedBatches(Sampler[list[int]]):
    """Yields a fixed list of index batches (this process's share)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class PredictDataModule(L.LightningDataModule):
    """Images to stylize: folders (searched recursively) and/or single files.

    Args:
        path: an image folder, an image file, or a list of them. Output files mirror each
            folder's tree; single files go to the top of the output folder.
        batch_size: images per batch (images of one size are batched together).
        num_workers: DataLoader worker processes that decode images.
        max_pixels: images with more pixels are refused unread (decompression-bomb guard).
        long_side: resize every image so that its longer side has this many pixels (aspect
            ratio kept); by default images keep their own size.
        max_batch_pixels: a batch holds at most this many pixels in all (a larger image comes alone).
    """

    def __init__(
        self,
        path: str | list[str],
        batch_size: int = 4,
        num_workers: int = 2,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        long_side: int | None = None,
        max_batch_pixels: int = 4 * 1024 * 1024,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise DataError(f"`batch_size` must be at least 1, got {batch_size}")
        if long_side is not None and long_side < 1:
            raise DataError(f"`long_side` must be a positive number of pixels, got {long_side}")
        self.paths = [path] if isinstance(path, (str, Path)) else list(path)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.max_pixels = max_pixels
        self.long_side = long_side
        self.max_batch_pixels = max_batch_pixels
        self.inputs: list[InputImage] = []
        self.unreadable: dict[int, str] = {}
        self.skipped: set[int] = set()

    @property
    def roots(self) -> list[Path]:
        """The input folders and files as given."""
        return [Path(p).expanduser() for p in self.paths]

    def setup(self, stage: str) -> None:
        if self.inputs:
            return
        inputs = find_inputs(self.paths)
        if not inputs:
            suffixes = " ".join(sorted(IMAGE_SUFFIXES))
            raise DataError(f"{', '.join(map(str, self.paths))}: no images found (looked for {suffixes})")
        self.inputs = []
        for index, item in enumerate(inputs):
            size = None
            try:
                size = long_side_size(*probe_size(item.path, self.max_pixels), self.long_side)
            except ImageReadError as error:
                self.unreadable[index] = error.reason
            self.inputs.append(InputImage(item.path, item.relative, size))

    def skip(self, indices: set[int] | list[int]) -> None:
        """Leave these inputs out (their outputs exist already)."""
        self.skipped.update(indices)

    def pending(self) -> dict[int, tuple[int, int]]:
        """Index -> size of every input still to stylize."""
        return {
            i: item.size
            for i, item in enumerate(self.inputs)
            if item.size is not None and i not in self.skipped and i not in self.unreadable
        }

    def predict_dataloader(self) -> DataLoader:
        sizes = self.pending()
        batches = plan_batches(sizes, self.batch_size, self.max_batch_pixels)
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)
        share = deal_batches(batches, sizes, world_size)[rank]
        dataset = PredictDataset(self.inputs, self.max_pixels, self.long_side)
        return DataLoader(
            dataset, batch_sampler=SizeGroupedBatches(share), num_workers=min(self.num_workers, len(share)), collate_fn=collate_predict
        )
