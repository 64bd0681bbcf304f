"""Augmented views: torchvision's perspective warp, batched, per sample, reproducible."""

from __future__ import annotations

import torch
from torchvision.transforms import functional as TF

from clipstyler_fast.objective.views import perspective_views, sample_corners


def test_views_have_the_requested_layout() -> None:
    images = torch.rand(3, 3, 24, 32)
    views = perspective_views(images, 5, generator=torch.Generator().manual_seed(0))
    assert views.shape == (3, 5, 3, 24, 32)


def test_views_differ_per_sample_and_per_view() -> None:
    image = torch.rand(1, 3, 32, 32)
    batch = image.expand(2, -1, -1, -1).contiguous()  # the same image twice
    views = perspective_views(batch, 4, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(views[0], views[1]), "same image, different samples: warps must differ"
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(views[0, a], views[0, b])


def test_shared_warps_are_the_same_for_every_sample() -> None:
    image = torch.rand(1, 3, 32, 32)
    batch = image.expand(3, -1, -1, -1).contiguous()
    views = perspective_views(batch, 4, generator=torch.Generator().manual_seed(0), per_sample=False)
    assert torch.equal(views[0], views[1]) and torch.equal(views[1], views[2])


def test_views_are_reproducible_under_a_seed() -> None:
    images = torch.rand(2, 3, 20, 28)
    a = perspective_views(images, 6, generator=torch.Generator().manual_seed(7))
    b = perspective_views(images, 6, generator=torch.Generator().manual_seed(7))
    c = perspective_views(images, 6, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_warp_equals_torchvision_perspective_with_fill_zero() -> None:
    images = torch.rand(2, 3, 30, 40)
    corners = sample_corners(2 * 3, 30, 40, 0.5, torch.Generator().manual_seed(3))
    views = perspective_views(images, 3, corners=corners)
    start = [[0, 0], [39, 0], [39, 29], [0, 29]]
    for b in range(2):
        for n in range(3):
            ref = TF.perspective(images[b : b + 1], start, corners[b * 3 + n].tolist(), fill=0)
            torch.testing.assert_close(views[b, n], ref[0], atol=1e-5, rtol=1e-5)


def test_corners_stay_within_the_distortion_bounds() -> None:
    corners = sample_corners(500, 100, 60, 0.5, torch.Generator().manual_seed(0))
    x, y = corners[..., 0], corners[..., 1]
    assert x.min() >= 0 and x.max() <= 59 and y.min() >= 0 and y.max() <= 99
    assert x[:, 0].max() <= 15 and x[:, 1].min() >= 44  # top-left / top-right move at most half*0.5
    assert y[:, 0].max() <= 25 and y[:, 2].min() >= 74
    assert len({tuple(c.flatten().tolist()) for c in corners}) > 400  # genuinely random


def _find_window(image: torch.Tensor, patch: torch.Tensor) -> tuple[int, int] | None:
    """Where ``patch`` (C, s, s) sits inside ``image`` (C, H, W), if it is an exact sub-window."""
    size = patch.shape[-1]
    for top in range(image.shape[-2] - size + 1):
        for left in range(image.shape[-1] - size + 1):
            if torch.allclose(image[:, top : top + size, left : left + size], patch, atol=1e-5):
                return top, left
    return None


def test_patch_views_are_random_windows_of_their_own_image() -> None:
    """With crop < 1 every view is a square patch of its own image (no warp at distortion 0)."""
    images = torch.rand(2, 3, 24, 32)
    views = perspective_views(images, 6, distortion=0.0, generator=torch.Generator().manual_seed(1), crop=0.5)
    assert views.shape == (2, 6, 3, 12, 12)  # half of the shorter side
    places = {b: [_find_window(images[b], views[b, n]) for n in range(6)] for b in range(2)}
    assert all(place is not None for b in places for place in places[b])
    assert len(set(places[0])) > 1  # different views look at different places
    # A patch of image 0 is not a window of image 1: views stay with their own image.
    assert _find_window(images[1], views[0, 0]) is None


def test_patch_views_pass_gradients_only_to_the_pixels_they_show() -> None:
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    views = perspective_views(images, 1, distortion=0.0, generator=torch.Generator().manual_seed(2), crop=0.25)
    views.sum().backward()
    touched = (images.grad[0, 0] != 0).sum().item()
    assert touched == 8 * 8


def test_whole_image_views_are_unchanged_by_the_patch_option() -> None:
    images = torch.rand(2, 3, 24, 24)
    a = perspective_views(images, 3, generator=torch.Generator().manual_seed(3))
    b = perspective_views(images, 3, generator=torch.Generator().manual_seed(3), crop=1.0)
    assert torch.equal(a, b)
