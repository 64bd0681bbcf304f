"""The two user controls applied after the style network: strength and colour preservation.

Both are pure functions of the photo and its stylization (``(B, 3, H, W)`` or ``(3, H, W)``
float RGB in [0, 1], the same shape), so they work for every network a style file can hold, at
the cost of one or two element-wise operations, and neither needs anything stored in the
checkpoint.

**Strength** blends in pixel space, ``out = photo + s * (styled - photo)``. A blend of the
features before the decoder (AdaIN-style ``alpha``) needs a decoder that reconstructs photos,
which a fine-tuned style decoder no longer does, so the file would have to carry a second
decoder; a blend of decoder weights needs two decoders as well, and neither carries over to
other network kinds. The pixel blend needs nothing of the kind, is one fused ``lerp`` and its
ends are exact: strength 0 returns the photo, strength 1 the stylization, bit for bit.

**Preserve colours** is the luminance-only transfer of classic neural style transfer (Gatys et
al., "Preserving Color in Neural Artistic Style Transfer", 2016): the output takes the
stylization's luminance and the photo's chroma. In full-range YCbCr (ITU-R BT.601, as JPEG)::

    Y  =  0.299 R + 0.587 G + 0.114 B
    Cb = -0.168736 R - 0.331264 G + 0.5 B + 0.5
    Cr =  0.5 R - 0.418688 G - 0.081312 B + 0.5

Taking Y from the stylization and Cb, Cr from the photo and converting back to RGB is, because
the transform is linear and RGB grey ``(1, 1, 1)`` has Y = 1 and no chroma, the same as adding
the luminance difference to every channel of the photo::

    out = photo + (Y(styled) - Y(photo)) * (1, 1, 1)

Colours that leave the RGB cube are clipped to [0, 1]. The two controls commute (both are linear
in the stylization), so their order does not matter.
"""

from __future__ import annotations

import math

import torch

from clipstyler_fast.errors import ClipstylerError

# ITU-R BT.601 luma weights of R, G and B (the Y of JPEG's YCbCr and of YIQ).
LUMA = (0.299, 0.587, 0.114)


def check_strength(strength: float) -> float:
    """``strength`` as a float in [0, 1], or a one-line :class:`ClipstylerError` saying what it means."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise ClipstylerError(f"strength {strength!r} is not a number; give one in [0, 1] (0: the photo, 1: the full style)") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ClipstylerError(f"strength {strength} is outside [0, 1]; 0 gives the photo unchanged, 1 the full style")
    return value


def luminance(images: torch.Tensor) -> torch.Tensor:
    """``Y = 0.299 R + 0.587 G + 0.114 B`` of RGB images ``(..., 3, H, W)``, as ``(..., 1, H, W)``."""
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images * weights).sum(dim=-3, keepdim=True)


def preserve_colors(photo: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """The stylization's luminance with the photo's chroma: ``photo + (Y(styled) - Y(photo))``, clipped to [0, 1]."""
    return (photo + (luminance(styled) - luminance(photo))).clamp(0, 1)


def blend_strength(photo: torch.Tensor, styled: torch.Tensor, strength: float) -> torch.Tensor:
    """``photo + strength * (styled - photo)``, exact at both ends (strength 0: ``photo``, 1: ``styled``)."""
    strength = check_strength(strength)
    # torch.lerp computes from the nearer end, so both ends are exact (a + 1 * (b - a) need not be b).
    return torch.lerp(photo, styled, strength)


def apply_controls(photo: torch.Tensor, styled: torch.Tensor, strength: float = 1.0, keep_colors: bool = False) -> torch.Tensor:
    """Both controls on a stylization of ``photo``; the defaults return ``styled`` itself."""
    if styled.shape != photo.shape:
        raise ValueError(f"photo {tuple(photo.shape)} and stylization {tuple(styled.shape)} differ in shape")
    photo = photo.to(styled.dtype)
    if keep_colors:
        styled = preserve_colors(photo, styled)
    return styled if check_strength(strength) == 1.0 else blend_strength(photo, styled, strength)
