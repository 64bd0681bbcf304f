"""Where every training sample comes from: seeded generators, and a sampler and loader whose
position is part of the checkpoint, so that a resumed run replays the same data order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU generator whose seed is a deterministic mix of ``keys``."""
    seed = 0
    for key in keys:
        seed = (seed * 1_000_003 + int(key)) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


class EpochSampler(DistributedSampler):
    """Yields the dataset indices of one epoch for this rank, starting after what was consumed.

    Epoch ``e`` covers indices ``e*per_epoch .. (e+1)*per_epoch - 1``; with several ranks, each
    takes every ``world_size``-th batch. (It is a ``DistributedSampler`` so that Lightning does
    not wrap it in another one that would split the batches between ranks a second time.)

    Under a trainer, where an iteration starts is derived from ``consumed_batches()`` (batches
    this rank has already trained on, read when the iteration starts), so a resumed run continues
    exactly where the interrupted one stopped, whatever Lightning's epoch and batch counters say
    after the restart; Lightning's ``set_epoch`` is then ignored. Without a counter, the epoch is
    the one given to :meth:`set_epoch` and ``skip_batches`` (applied once) skips the start of it.

    ``len()`` is always a full epoch: Lightning continues a restored epoch's batch count from
    where it stopped and ends the epoch at this length, in step with the skipped batches here.
    """

    def __init__(
        self,
        num_images: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        consumed_batches: Callable[[], int] | None = None,
    ) -> None:
        Sampler.__init__(self)  # not DistributedSampler's: there is no dataset length to split
        self.num_replicas, self.shuffle, self.drop_last, self.seed, self.dataset = world_size, False, True, 0, None
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        group = batch_size * world_size
        self.per_epoch = max(group, (num_images // group) * group)
        self.batches_per_epoch = self.per_epoch // group
        self.consumed_batches = consumed_batches
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_epoch // self.world_size

    def position(self) -> tuple[int, int]:
        """``(epoch, batches of it already consumed)`` for an iteration starting now."""
        if self.consumed_batches is not None:
            return divmod(int(self.consumed_batches()), self.batches_per_epoch)
        skip, self.skip_batches = self.skip_batches, 0
        return self.epoch, skip

    def __iter__(self) -> Iterator[int]:
        epoch, skip = self.position()
        base = epoch * self.per_epoch
        for batch in range(skip, self.batches_per_epoch):
            first = base + (batch * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)


class ResumableDataLoader(DataLoader):
    """A DataLoader with Lightning's ``state_dict``/``load_state_dict`` interface.

    The position in the data is derived from the trainer's steps by :class:`EpochSampler`, so the
    state only records it; having the interface tells Lightning that this loader resumes
    mid-epoch correctly.
    """

    def state_dict(self) -> dict[str, Any]:
        sampler = self.sampler
        counter = getattr(sampler, "consumed_batches", None)
        return {"consumed_batches": int(counter()) if callable(counter) else 0}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore: :class:`EpochSampler` reads its position off the trainer's restored steps."""
