"""Random perspective views of a batch of images, made in one batched warp.

The warp follows torchvision's ``RandomPerspective`` exactly (corner sampling, homography,
sampling grid, fill handling), but draws a different warp per sample and per view and applies
all of them in a single ``grid_sample`` call instead of a Python loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_corners(
    count: int,
    height: int,
    width: int,
    distortion: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``count`` sets of warped corners ``(count, 4, 2)`` as integer (x, y) pixels.

    Corners are top-left, top-right, bottom-right, bottom-left, each moved inwards by up to
    ``distortion`` times half the image size, as ``RandomPerspective.get_params`` does.
    """
    bound_w = int(distortion * (width // 2)) + 1
    bound_h = int(distortion * (height // 2)) + 1
    dx = torch.randint(0, bound_w, (count, 4), generator=generator)
    dy = torch.randint(0, bound_h, (count, 4), generator=generator)
    x = torch.stack([dx[:, 0], width - bound_w + dx[:, 1], width - bound_w + dx[:, 2], dx[:, 3]], dim=1)
    y = torch.stack([dy[:, 0], dy[:, 1], height - bound_h + dy[:, 2], height - bound_h + dy[:, 3]], dim=1)
    return torch.stack([x, y], dim=-1)


def perspective_coefficients(corners: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Homography coefficients ``(n, 8)`` mapping output pixels back to input pixels."""
    start = torch.tensor([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=torch.float64)
    end = corners.to(torch.float64)
    n = end.shape[0]
    x, y = end[..., 0], end[..., 1]
    u, v = start[:, 0], start[:, 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    # Per corner, the equation for u (even rows of ``a``), then the one for v (odd rows).
    u_rows = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)
    v_rows = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    a = torch.stack([u_rows, v_rows], dim=2).reshape(n, 8, 8)
    b = start.reshape(1, 8).expand(n, 8)
    return torch.linalg.solve(a, b).to(torch.float32)


def perspective_grid(coeffs: torch.Tensor, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Sampling grids ``(n, H, W, 2)`` in ``grid_sample`` coordinates for each homography."""
    coeffs = coeffs.to(device=device, dtype=dtype)
    n = coeffs.shape[0]
    xs = torch.linspace(0.5, width - 0.5, width, device=device, dtype=dtype)
    ys = torch.linspace(0.5, height - 0.5, height, device=device, dtype=dtype)
    base = torch.stack(
        [xs.expand(height, width), ys.unsqueeze(-1).expand(height, width), torch.ones(height, width, device=device, dtype=dtype)],
        dim=-1,
    ).reshape(1, height * width, 3)
    theta1 = coeffs[:, :6].reshape(n, 2, 3).transpose(1, 2) / torch.tensor([0.5 * width, 0.5 * height], device=device, dtype=dtype)
    theta2 = torch.cat([coeffs[:, 6:8], torch.ones(n, 1, device=device, dtype=dtype)], dim=1).unsqueeze(-1)
    grid = base.matmul(theta1) / base.matmul(theta2) - 1.0
    return grid.reshape(n, height, width, 2)


def warp(images: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Warp each image ``(n, C, H, W)`` by its own corners ``(n, 4, 2)``; outside is filled with 0."""
    n, _, height, width = images.shape
    grid = perspective_grid(perspective_coefficients(corners, height, width), height, width, images.dtype, images.device)
    # A ones channel warped with the image gives the fill mask, so that edge pixels blend into
    # the fill value exactly as torchvision does.
    ones = torch.ones(n, 1, height, width, dtype=images.dtype, device=images.device)
    sampled = F.grid_sample(torch.cat([images, ones], dim=1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return sampled[:, :-1] * sampled[:, -1:]


def random_crops(
    images: torch.Tensor, count: int, size: int, generator: torch.Generator | None = None, per_sample: bool = True
) -> torch.Tensor:
    """Return ``(B * count, C, size, size)``: ``count`` random square crops of each image.

    With ``per_sample`` every (image, crop) pair gets its own position; otherwise each crop's
    position is shared by the whole batch. Gradients flow back to the cropped pixels.
    """
    batch, _, height, width = images.shape
    draws = batch * count if per_sample else count
    tops = torch.randint(0, height - size + 1, (draws,), generator=generator)
    lefts = torch.randint(0, width - size + 1, (draws,), generator=generator)
    if not per_sample:
        tops, lefts = tops.repeat(batch), lefts.repeat(batch)
    owner = torch.arange(batch).repeat_interleave(count)
    steps = torch.arange(size)
    rows = (tops[:, None] + steps).to(images.device)
    cols = (lefts[:, None] + steps).to(images.device)
    # (n, size, size, C) by advanced indexing, then channels first again.
    crops = images.permute(0, 2, 3, 1)[owner.to(images.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return crops.permute(0, 3, 1, 2)


def perspective_views(
    images: torch.Tensor,
    num_views: int,
    distortion: float = 0.5,
    generator: torch.Generator | None = None,
    per_sample: bool = True,
    corners: torch.Tensor | None = None,
    crop: float = 1.0,
) -> torch.Tensor:
    """Return ``(B, N, C, h, w)``: ``N`` random perspective views of each of ``B`` images.

    With ``per_sample`` every (image, view) pair gets its own warp; otherwise each view's warp is
    shared by the whole batch, as the reference does. ``corners`` (``(B*N, 4, 2)`` or
    ``(N, 4, 2)`` when shared) replaces the random draw, e.g. to replay the same warps.

    ``crop`` below 1 first cuts a random square of ``crop`` times the shorter side out of the
    image for every view and warps that patch instead, as CLIPstyler's patch-wise loss does
    (``h = w`` is then the patch side); 1 warps the whole image, as the fast recipe does.
    """
    batch, channels, height, width = images.shape
    if crop < 1.0:
        # At least 8 px where the image has them; never more than its shorter side (a 1x1 or a
        # 3000x20 image has one patch size: all of that side).
        size = min(max(8, round(crop * min(height, width))), min(height, width))
        patches = random_crops(images, num_views, size, generator, per_sample)
        height = width = size
    else:
        patches = images.unsqueeze(1).expand(batch, num_views, channels, height, width).reshape(-1, channels, height, width)
    if min(height, width) < 2:
        # One row or column of pixels has no perspective (its homography is singular): as is.
        return patches.reshape(batch, num_views, channels, height, width)
    if corners is None:
        corners = sample_corners(batch * num_views if per_sample else num_views, height, width, distortion, generator)
    if corners.shape[0] == num_views and (not per_sample or batch == 1):
        corners = corners.unsqueeze(0).expand(batch, num_views, 4, 2).reshape(batch * num_views, 4, 2)
    return warp(patches, corners).reshape(batch, num_views, channels, height, width)
