"""The consistency term's warps and loss, checked against their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from clipstyler_fast.objective.consistency import (
    DEFAULT_WARPS,
    affine_matrices,
    consistency_loss,
    coverage,
    masked_l1,
    sample_warps,
    translation_matrices,
    warp,
)


@pytest.mark.parametrize(("dx", "dy"), [(3, 0), (0, -5), (7, 2), (-1, -7)])
def test_a_whole_pixel_translation_copies_pixels_exactly_and_covers_the_rest(dx: int, dy: int) -> None:
    images = torch.rand(1, 3, 20, 24)
    moved = warp(images, translation_matrices(torch.tensor([[dx, dy]])))
    mask = coverage(translation_matrices(torch.tensor([[dx, dy]])), 20, 24)
    # Output pixel (x, y) shows source pixel (x - dx, y - dy) wherever that lies inside.
    ys, xs = slice(max(dy, 0), 20 + min(dy, 0)), slice(max(dx, 0), 24 + min(dx, 0))
    source = images[..., max(-dy, 0) : 20 - max(dy, 0), max(-dx, 0) : 24 - max(dx, 0)]
    assert torch.equal(moved[..., ys, xs], source)
    assert mask.sum() == (20 - abs(dy)) * (24 - abs(dx)) and mask[..., ys, xs].all()


def test_the_affine_matrix_maps_each_point_back_through_the_rotation_zoom_and_shift() -> None:
    angle, scale, shift = torch.tensor([0.3]), torch.tensor([1.1]), torch.tensor([[2.0, -1.5]])
    matrix = affine_matrices(shift, angle, scale, 31, 41)[0].double()
    centre = torch.tensor([20.0, 15.0], dtype=torch.float64)
    rotation = torch.tensor([[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]], dtype=torch.float64)
    for q in torch.tensor([[0.0, 0.0], [40.0, 30.0], [7.5, 22.0]], dtype=torch.float64):
        p = 1.1 * rotation @ (q - centre) + centre + shift[0].double()  # where the motion takes q
        torch.testing.assert_close(matrix[:, :2] @ p + matrix[:, 2], q, atol=1e-5, rtol=0)


def test_sampled_warps_stay_within_their_ranges_and_follow_the_seed() -> None:
    warps = sample_warps(400, 64, 64, generator=torch.Generator().manual_seed(0))
    again = sample_warps(400, 64, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(warps, again)
    linear = warps[:, :, :2]
    scales = linear.det().abs().rsqrt()  # det of R(-a)/s is 1/s^2
    angles = torch.atan2(linear[:, 0, 1], linear[:, 0, 0]).rad2deg()
    assert (scales - 1).abs().max() <= DEFAULT_WARPS.zoom + 1e-5 and angles.abs().max() <= DEFAULT_WARPS.angle + 1e-4
    assert (scales - 1).abs().max() > 0.8 * DEFAULT_WARPS.zoom and angles.abs().max() > 0.8 * DEFAULT_WARPS.angle
    # The translation, read at the centre: whole pixels within one 8-pixel cell, both ways.
    centre = torch.tensor([31.5, 31.5, 1.0])
    shift = -torch.linalg.solve(linear, warps @ centre - centre[:2])
    torch.testing.assert_close(shift, shift.round(), atol=1e-3, rtol=0)
    assert shift.round().abs().max() == DEFAULT_WARPS.shift and shift.round().min() == -DEFAULT_WARPS.shift


def test_masked_l1_is_the_mean_absolute_difference_over_the_masked_pixels() -> None:
    a, b = torch.rand(2, 3, 5, 6), torch.rand(2, 3, 5, 6)
    mask = (torch.rand(2, 1, 5, 6) > 0.4).float()
    picked = mask.expand_as(a).bool()
    expected = (a - b).abs()[picked].mean()
    torch.testing.assert_close(masked_l1(a, b, mask), expected)


def test_the_loss_is_the_formula_over_the_covered_pixels() -> None:
    generator = torch.Generator().manual_seed(1)
    content = torch.rand(2, 3, 16, 16, generator=generator)
    weight = torch.randn(3, 3, 3, 3, generator=generator)

    def network(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, weight, padding=1).tanh()

    warps = sample_warps(2, 16, 16, generator=generator)
    noise = torch.randn(2, 3, 16, 16, generator=generator) * 0.02
    got = consistency_loss(network, content, network(content), warps, noise)
    redrawn = network((warp(content, warps) + noise).clamp(0, 1))
    moved = warp(network(content), warps)
    mask = coverage(warps, 16, 16).expand_as(moved).bool()
    torch.testing.assert_close(got, (redrawn - moved).abs()[mask].mean())


def test_a_network_that_commutes_with_translations_costs_nothing_and_one_that_does_not_is_penalised() -> None:
    content = torch.rand(3, 3, 24, 24)
    shifts = translation_matrices(torch.tensor([[1, 0], [-3, 2], [5, -7]]))

    def pointwise(x: torch.Tensor) -> torch.Tensor:  # moves with the photo by construction
        return x.square()

    def on_a_grid(x: torch.Tensor) -> torch.Tensor:  # draws in 8-pixel cells fixed to the frame
        return torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 8), scale_factor=8.0)

    assert consistency_loss(pointwise, content, pointwise(content), shifts) == 0
    assert consistency_loss(on_a_grid, content, on_a_grid(content), shifts) > 0.01


def test_gradients_reach_the_network_through_both_sides() -> None:
    scale = torch.ones((), requires_grad=True)
    content = torch.rand(1, 3, 16, 16)
    warps = affine_matrices(torch.tensor([[0.0, 0.0]]), torch.tensor([0.2]), torch.tensor([1.0]), 16, 16)

    def network(x: torch.Tensor) -> torch.Tensor:
        return scale * torch.nn.functional.avg_pool2d(x, 3, 1, 1)

    consistency_loss(network, content, network(content), warps).backward()
    assert scale.grad is not None and scale.grad.abs() > 0


def test_the_warp_samples_bilinearly_as_grid_sample_does_with_reflection() -> None:
    images = torch.rand(2, 3, 17, 23)
    warps = sample_warps(2, 17, 23, generator=torch.Generator().manual_seed(4))
    ys, xs = torch.meshgrid(torch.arange(17.0), torch.arange(23.0), indexing="ij")
    points = torch.einsum("hwk,njk->nhwj", torch.stack([xs, ys, torch.ones_like(xs)], -1), warps)
    grid = points / torch.tensor([22.0, 16.0]) * 2 - 1
    expected = torch.nn.functional.grid_sample(images, grid, padding_mode="reflection", align_corners=True)
    torch.testing.assert_close(warp(images, warps), expected, atol=1e-5, rtol=0)
