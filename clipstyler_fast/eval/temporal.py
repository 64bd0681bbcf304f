"""How much a stylized video flickers: the warping error against the known motion of its frames."""

from __future__ import annotations

import torch

from clipstyler_fast.objective.consistency import coverage, masked_l1, warp


def warping_errors(frames: torch.Tensor, motions: torch.Tensor, margin: int = 0) -> torch.Tensor:
    """The warping error of each pair of consecutive frames ``(T, C, H, W)``, ``(T - 1,)``:

    ``E_t = sum_p m_t(p) |F_{t+1}(p) - (W_t F_t)(p)| / (C sum_p m_t(p))``

    ``W_t`` warps by ``motions[t]`` ``(2, 3)``, the true motion from frame ``t + 1``'s pixels to the
    points of frame ``t`` they show (as :mod:`clipstyler_fast.objective.consistency` writes warps),
    and ``m_t`` is 1 on the pixels of frame ``t + 1`` that show a point of frame ``t``, at least
    ``margin`` pixels inside frame ``t + 1``'s border. A video whose frames follow the motion
    exactly (a pure translation of one image, say) scores 0.
    """
    if len(frames) != len(motions) + 1:
        raise ValueError(f"{len(frames)} frames need {len(frames) - 1} motions, not {len(motions)}")
    height, width = frames.shape[-2:]
    mask = coverage(motions, height, width, frames.device)
    if margin:
        inner = torch.zeros_like(mask)
        inner[..., margin : height - margin, margin : width - margin] = 1
        mask = mask * inner
    moved = warp(frames[:-1].float(), motions)
    return torch.stack([masked_l1(frames[t + 1 : t + 2], moved[t : t + 1], mask[t : t + 1]) for t in range(len(motions))])


def warping_error(frames: torch.Tensor, motions: torch.Tensor, margin: int = 0) -> float:
    """The mean of :func:`warping_errors` over the clip."""
    return float(warping_errors(frames, motions, margin).mean())
