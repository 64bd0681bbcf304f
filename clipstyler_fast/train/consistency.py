"""The consistency term (:mod:`clipstyler_fast.objective.consistency`) in the training modules:
which photos of a batch are warped, with which random draws, and how its weight joins the total."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from clipstyler_fast.objective.consistency import DEFAULT_WARPS, consistency_loss, sample_warps, sensor_noise


def add_consistency(
    terms: dict[str, torch.Tensor],
    weight: float,
    share: float,
    network: Callable[[torch.Tensor], torch.Tensor],
    content: torch.Tensor,
    output: torch.Tensor,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """``terms`` with the consistency term added (as ``consistency``, and ``weight`` times it to
    ``loss``); unchanged when ``weight`` is 0, which then costs nothing and draws nothing.

    The term is the consistency loss on the first ``share`` of the batch (rounded up, at least one
    photo), with random warps and noise from ``generator``, so that a resumed run draws the same.
    It costs ``network`` on that many warped photos."""
    if weight <= 0:
        return terms
    count = min(len(content), max(1, math.ceil(share * len(content))))
    warps = sample_warps(count, content.shape[-2], content.shape[-1], DEFAULT_WARPS, generator)
    noise = sensor_noise(content[:count].shape, DEFAULT_WARPS.noise, generator)
    term = consistency_loss(network, content[:count], output[:count], warps, noise)
    return {**terms, "loss": terms["loss"] + weight * term, "consistency": term}
