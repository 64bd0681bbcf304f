"""The previous-frame blend of `video`: its motion estimate and its blend."""

from __future__ import annotations

import pytest
import torch

from clipstyler_fast.infer.temporal import PreviousFrameBlend, phase_correlation
from clipstyler_fast.objective.consistency import translation_matrices, warp


@pytest.mark.parametrize(("dx", "dy"), [(0, 0), (3, 0), (-5, 2), (7, -7), (12, 9)])
def test_phase_correlation_finds_a_circular_shift_exactly(dx: int, dy: int) -> None:
    image = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(dx * 31 + dy))
    moved = image.roll((dy, dx), dims=(-2, -1))
    torch.testing.assert_close(phase_correlation(image, moved), torch.tensor([float(dx), float(dy)]), atol=0.05, rtol=0)


@pytest.mark.parametrize(("dx", "dy"), [(2, 0), (-3, 4)])
def test_phase_correlation_finds_the_pan_of_a_window_over_a_photo(dx: int, dy: int) -> None:
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 100, 100, generator=torch.Generator().manual_seed(1)), 5, 1, 2)[0]
    before, after = smooth[:, 10:74, 10:74], smooth[:, 10 - dy : 74 - dy, 10 - dx : 74 - dx]
    assert torch.allclose(phase_correlation(before, after), torch.tensor([float(dx), float(dy)]), atol=0.25)


def test_the_blend_follows_its_formula_and_starts_from_the_first_frame_as_is() -> None:
    first = 0.3 * torch.rand(3, 32, 32)
    photos = torch.stack([first, 1 - first])  # every pixel at least 0.4 away from any of the first frame's
    styled = torch.rand(2, 3, 32, 32)
    out = PreviousFrameBlend(0.5)(photos, styled)
    assert torch.equal(out[0], styled[0])
    # The motion explains no pixel of the second photo, so nothing is taken from before.
    assert torch.equal(out[1], styled[1])


def test_a_panning_clip_takes_the_moved_previous_output_where_the_motion_explains_the_photo() -> None:
    photo = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 60, 60, generator=torch.Generator().manual_seed(2)), 3, 1, 1)[0]
    photos = torch.stack([photo[:, 4:52, 8:56], photo[:, 4:52, 6:54]])  # the picture moves 2 px right
    styled = torch.rand(2, 3, 48, 48)
    out = PreviousFrameBlend(0.25)(photos, styled)
    moved = warp(styled[:1], translation_matrices(torch.tensor([[2.0, 0.0]])))[0]
    # Right of the 2 new columns (and the column whose 3x3 neighbourhood meets them), the photo is the
    # previous one moved: out = s + 0.25 (W out_0 - s).
    torch.testing.assert_close(out[1][..., 3:], (styled[1] + 0.25 * (moved - styled[1]))[..., 3:], atol=1e-6, rtol=0)
    assert torch.equal(out[1][..., :2], styled[1][..., :2])  # the new columns show nothing of before


def test_a_blend_weight_of_one_or_more_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        PreviousFrameBlend(1.0)
