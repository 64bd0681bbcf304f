"""The warping error of a clip against its known motion."""

from __future__ import annotations

import torch

from clipstyler_fast.eval.temporal import warping_error, warping_errors
from clipstyler_fast.objective.consistency import affine_matrices, translation_matrices


def pan(image: torch.Tensor, steps: list[tuple[int, int]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of ``size`` px cut from ``image`` at the given top-left offsets, and the motions between them."""
    frames = torch.stack([image[:, y : y + size, x : x + size] for x, y in steps])
    # The window moving right by dx shows the picture moving left by dx.
    shifts = torch.tensor([[-(b[0] - a[0]), -(b[1] - a[1])] for a, b in zip(steps, steps[1:])])
    return frames, translation_matrices(shifts)


def test_a_pure_translation_of_a_stylized_frame_has_zero_error() -> None:
    stylized = torch.rand(3, 80, 80)
    frames, motions = pan(stylized, [(0, 0), (2, 0), (4, 1), (7, 3), (7, 10)], 64)
    assert warping_error(frames, motions) == 0
    assert warping_error(frames, motions, margin=8) == 0


def test_drawing_anew_in_every_frame_is_measured_over_the_covered_pixels_only() -> None:
    stylized = torch.rand(3, 80, 80)
    frames, motions = pan(stylized, [(0, 0), (3, 0)], 64)
    flicker = frames.clone()
    flicker[1, :, :, :32] += 0.1  # frame 1 draws its left half 0.1 brighter
    # 61 of 64 columns of frame 1 show frame 0; the brighter 32 of them differ by exactly 0.1.
    torch.testing.assert_close(warping_errors(flicker, motions), torch.tensor([0.1 * 32 / 61]))


def test_a_still_clip_of_noise_scores_the_mean_absolute_difference_of_its_frames() -> None:
    frames = torch.rand(4, 3, 16, 16)
    still = affine_matrices(torch.zeros(3, 2), torch.zeros(3), torch.ones(3), 16, 16)
    expected = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3))
    torch.testing.assert_close(warping_errors(frames, still), expected)
