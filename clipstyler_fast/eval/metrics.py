"""Quality metrics of stylized images: CLIP directional similarity to the prompt, SSIM to the content.

- CLIP directional similarity, per (content, stylized) pair:
  ``cos(normalize(normalize(CLIP(stylized)) - normalize(CLIP(content))), text_direction)``, in
  [-1, 1]; higher means the image moved further in the direction the prompt asks for. It is
  ``1 - `` the global directional loss of training.
- Patch-level CLIP directional similarity: the same score averaged over random patches of the
  stylized image (:func:`patch_directional_similarity`), which a global change cannot win alone.
- Content preservation: SSIM (torchmetrics) of the stylized image against its content, in [-1, 1];
  1 means the structure is unchanged.
- Edge keeping (:func:`edge_keeping`): whether the stylized image has its edges where the photo
  has them, in [-1, 1]. SSIM cannot tell a kept photo from a flat image (a uniform image still
  scores about 0.5 against a smooth photo); a flat image, or a texture unrelated to the photo,
  scores about 0 here.

Training logs the first and the third of held-out images at every validation, read off the
loss terms it computes anyway (``val/clip_direction``, ``val/content_ssim``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.functional.image import structural_similarity_index_measure

from clipstyler_fast.objective import losses
from clipstyler_fast.objective.views import perspective_views

ImageEncoder = Callable[[torch.Tensor], torch.Tensor]


def directional_similarity(stylized_features: torch.Tensor, content_features: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Per-pair CLIP directional similarity ``(B,)`` from raw CLIP image embeddings ``(B, D)``.

    A pair whose embeddings are equal (the image did not move) scores 0.
    """
    moved = losses.normalize(stylized_features.float()) - losses.normalize(content_features.float())
    image_direction = F.normalize(moved, dim=-1, eps=1e-12)
    return F.cosine_similarity(image_direction, direction.float().to(image_direction.device).expand_as(image_direction), dim=-1)


def patch_directional_similarity(
    encode_image: ImageEncoder,
    stylized: torch.Tensor,
    content_features: torch.Tensor,
    direction: torch.Tensor,
    num_patches: int = 16,
    crop: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-image patch-level directional similarity ``(B,)``: the mean over ``num_patches``
    random patches (``crop`` of the shorter side, perspective-warped as in training) of
    :func:`directional_similarity` against the whole content's embedding.

    A global score can be won by one global change (a tint, a band at the border); the patch
    score asks every local patch to have moved along the direction, which a texture must do.
    Without the training loss's threshold, so that it keeps rising past it.
    """
    batch = stylized.shape[0]
    views = perspective_views(stylized, num_patches, generator=generator, crop=crop)
    features = encode_image(views.flatten(0, 1)).view(batch, num_patches, -1)
    repeated = content_features.unsqueeze(1).expand(batch, num_patches, content_features.shape[-1])
    scores = directional_similarity(features.reshape(batch * num_patches, -1), repeated.reshape(batch * num_patches, -1), direction)
    return scores.view(batch, num_patches).mean(dim=1)


# The side of SSIM's Gaussian window (torchmetrics' default), and so the least side it can score.
SSIM_WINDOW = 11


def at_least(images: torch.Tensor, side: int) -> torch.Tensor:
    """``images`` whose shorter side is below ``side`` enlarged by whole-pixel repetition until it
    is not: a 1x1 or 128x1 image can then be scored by windowed statistics, each pixel counting as
    it did. Others are returned as they are."""
    shorter = min(images.shape[-2:])
    if shorter >= side:
        return images
    return F.interpolate(images, scale_factor=math.ceil(side / shorter), mode="nearest")


def content_ssim(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM ``(B,)`` of stylized images against their contents, both ``(B, 3, H, W)`` in [0, 1].

    Images smaller than SSIM's window are enlarged by pixel repetition first (:func:`at_least`)."""
    stylized, content = (at_least(x.float().clamp(0, 1), SSIM_WINDOW) for x in (stylized, content))
    return structural_similarity_index_measure(stylized, content, data_range=1.0, reduction="none").reshape(-1)


# Edges are compared after a blur of this many pixels (sigma), so that a style's fine texture
# laid over the photo does not hide the photo's own edges.
EDGE_BLUR_SIGMA = 1.5


def edge_magnitude(images: torch.Tensor, sigma: float = EDGE_BLUR_SIGMA) -> torch.Tensor:
    """Sobel gradient magnitude ``(B, H, W)`` of the luminance of ``(B, 3, H, W)`` images, blurred first."""
    from torchvision.transforms.v2.functional import gaussian_blur

    luminance = (images.float() * torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if sigma > 0:
        kernel = 2 * math.ceil(3 * sigma) + 1
        luminance = gaussian_blur(luminance, [kernel, kernel], [sigma, sigma])
    padded = F.pad(luminance, (1, 1, 1, 1), mode="replicate")
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=images.device).view(1, 1, 3, 3) / 4
    gx, gy = F.conv2d(padded, sobel), F.conv2d(padded, sobel.transpose(-1, -2))
    return (gx.square() + gy.square()).sqrt()[:, 0]


def edge_keeping(stylized: torch.Tensor, content: torch.Tensor, sigma: float = EDGE_BLUR_SIGMA) -> torch.Tensor:
    """Per-image edge keeping ``(B,)``: the Pearson correlation of the two images' blurred edge
    magnitudes (:func:`edge_magnitude`), both ``(B, 3, H, W)`` in [0, 1].

    1: edges exactly where the photo has them (in any colour and contrast); 0: none of them (a
    flat image, whose correlation is undefined, scores 0, as does a texture laid anywhere else).
    """
    # The blur's reflection padding needs a side of more than its radius.
    side = 2 * math.ceil(3 * sigma) + 1
    a = edge_magnitude(at_least(stylized.clamp(0, 1), side), sigma).flatten(1)
    b = edge_magnitude(at_least(content.clamp(0, 1), side), sigma).flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    spread = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(spread > 1e-12, (a * b).sum(1) / spread.clamp_min(1e-12), torch.zeros_like(spread))


class ClipDirectionalSimilarity(Metric):
    """Mean CLIP directional similarity between stylized images and their contents, along a text direction.

    Args:
        text_direction: ``(D,)`` normalised CLIP text direction of the style (``losses.text_direction``).
        encode_image: CLIP image encoder taking RGB images in [0, 1] (e.g. ``ClipEncoder.encode_image``).
            When given, :meth:`update` takes images; when None, it takes CLIP embeddings ``(B, D)``.
            It is kept as a plain callable, so the frozen CLIP never enters this metric's state.

    ``update(stylized, content)`` accumulates; ``compute()`` returns the mean over all pairs
    (synchronised across processes).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, text_direction: torch.Tensor, encode_image: ImageEncoder | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if text_direction.dim() != 1 or text_direction.numel() == 0:
            raise ValueError(f"text_direction must be a non-empty 1-D tensor, got shape {tuple(text_direction.shape)}")
        self.register_buffer("text_direction", text_direction.detach().float().clone(), persistent=False)
        self.encode_image = encode_image
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def scores(self, stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Per-pair similarities ``(B,)`` without accumulating."""
        if self.encode_image is not None:
            with torch.no_grad():
                stylized, content = self.encode_image(stylized), self.encode_image(content)
        if stylized.shape != content.shape:
            raise ValueError(f"stylized {tuple(stylized.shape)} and content {tuple(content.shape)} must have the same shape")
        return directional_similarity(stylized, content, self.text_direction)

    def update(self, stylized: torch.Tensor, content: torch.Tensor) -> None:
        values = self.scores(stylized, content)
        self.total += values.double().sum().to(self.total.device)
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp_min(1)).float()
