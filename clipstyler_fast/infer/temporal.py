"""Steadier video at inference: the picture's global motion between two frames (phase correlation),
and each stylized frame blended with the previous output moved by that motion.

A style network draws every frame on its own, so where the picture moves by part of its grid the
texture can be drawn anew and flicker. Blending with the previous *output*, moved to where the
picture now is, carries the texture along; where the motion does not explain the picture (new
content at a border, something that moved on its own, a cut), the frame's own stylization is kept.
"""

from __future__ import annotations

import torch

from clipstyler_fast.objective.consistency import coverage, translation_matrices, warp

# A pixel whose photo, moved by the estimated motion, differs from the current photo by this much
# (mean over RGB, in [0, 1]) takes nothing from the previous output: the motion does not explain it.
MISMATCH = 0.08
# Sub-pixel parts of an estimated shift below this many pixels are taken as 0.
SNAP = 0.05
# Spread (cycles per pixel) of the Gaussian that weights the frequencies phase correlation compares.
LOW_PASS = 0.1
# How much the whitening is held back (in units of the mean cross-power magnitude): sensor noise on a
# smooth picture fooled full whitening on one frame pair in two; 10 found every shift and no false one.
REGULARISE = 10.0


def _hann(size: int, device: torch.device) -> torch.Tensor:
    return torch.hann_window(size, periodic=False, device=device) if size > 1 else torch.ones(1, device=device)


def _refine(before: torch.Tensor, peak: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """The sub-pixel offset of a peak from its two neighbours (the vertex of the parabola through them)."""
    curvature = before - 2 * peak + after
    offset = torch.where(curvature.abs() > 1e-12, 0.5 * (before - after) / curvature, torch.zeros_like(peak)).clamp(-0.5, 0.5)
    # The parabola is biased by a few hundredths of a pixel (the peak of a windowed, non-circular
    # shift is not exactly a parabola): so little is taken as none, keeping whole-pixel pans exact.
    return torch.where(offset.abs() < SNAP, torch.zeros_like(offset), offset)


def phase_correlation(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """The translation ``d = (dx, dy)`` in pixels with ``current(p) ~ previous(p - d)``, from the
    peak of the normalised cross-power spectrum of the two frames' luminance (each ``(C, H, W)``).

    ``r = IFFT(G X / (|X| + k mean|X|))`` with ``X = F1 conj(F0)`` (``G`` a Gaussian low-pass,
    ``k`` :data:`REGULARISE`) has its peak at ``d`` when the frames differ by a
    translation (exactly for a circular one); the peak's neighbours give the sub-pixel part. The
    frames are Hann-windowed first, so that the picture's edges do not pull the peak to zero.
    """
    height, width = previous.shape[-2:]
    window = _hann(height, previous.device)[:, None] * _hann(width, previous.device)[None, :]
    grey = [(frame.float().mean(dim=0) - frame.float().mean()) * window for frame in (previous, current)]
    spectrum = torch.fft.rfft2(grey[1]) * torch.fft.rfft2(grey[0]).conj()
    # Full whitening gives sensor noise as much say as the picture: a frequency is divided by its
    # magnitude plus REGULARISE times the mean one, so the weak (noise-only) ones are not raised, and
    # a Gaussian low-pass (the surface blurred by about 1.6 px) keeps the peak where it is.
    fy, fx = torch.fft.fftfreq(height, device=previous.device), torch.fft.rfftfreq(width, device=previous.device)
    low_pass = torch.exp(-(fy[:, None] ** 2 + fx[None, :] ** 2) / (2 * LOW_PASS**2))
    magnitude = spectrum.abs()
    surface = torch.fft.irfft2(low_pass * spectrum / (magnitude + REGULARISE * magnitude.mean()).clamp_min(1e-12), s=(height, width))
    index = int(surface.argmax())
    y, x = divmod(index, width)
    fx = _refine(surface[y, (x - 1) % width], surface[y, x], surface[y, (x + 1) % width]) if width > 2 else 0.0
    fy = _refine(surface[(y - 1) % height, x], surface[y, x], surface[(y + 1) % height, x]) if height > 2 else 0.0
    # Peaks past the middle are negative shifts (the surface is circular).
    dx = x - width if x > width // 2 else x
    dy = y - height if y > height // 2 else y
    return torch.stack([torch.as_tensor(dx + fx, dtype=torch.float32), torch.as_tensor(dy + fy, dtype=torch.float32)]).cpu()


class PreviousFrameBlend:
    """Blends each stylized frame with the previous output frame, moved by the picture's motion.

    ``out_t = s_t + a g_t (W_t out_{t-1} - s_t)``, where ``s_t`` is frame ``t``'s own stylization,
    ``W_t`` the translation :func:`phase_correlation` finds between photos ``t-1`` and ``t`` (or the
    ``motion`` given), ``a`` the ``weight`` in [0, 1), and ``g_t`` 1 where ``W_t`` shows a pixel of
    the previous frame and explains the photo there (``|W_t x_{t-1} - x_t|``, averaged over RGB and
    3x3 pixels, below :data:`MISMATCH`), falling to 0 where it does not. ``out_0 = s_0``. Calls feed the frames in order.
    """

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"blend weight {weight} is outside [0, 1)")
        self.weight = weight
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (photo, output) of the last frame

    def step(self, photo: torch.Tensor, styled: torch.Tensor, motion: torch.Tensor | None = None) -> torch.Tensor:
        """The output for one frame: its photo and stylization ``(C, H, W)``; ``motion`` a known
        ``(2, 3)`` warp from this frame's pixels to the previous frame's (else estimated)."""
        out = styled
        if self.previous is not None and self.weight > 0 and self.previous[0].shape == photo.shape:
            last_photo, last_out = self.previous
            if motion is None:
                motion = translation_matrices(phase_correlation(last_photo, photo)[None])[0]
            matrix = motion[None].to(photo.device)
            moved_photo = warp(last_photo[None].float(), matrix)[0]
            moved_out = warp(last_out[None].float(), matrix)[0]
            # Averaged over RGB and a 3x3 neighbourhood before its size is taken, so that sensor
            # noise (which averages away) does not count as motion the estimate missed (which does not).
            difference = (moved_photo - photo.float()).mean(dim=0, keepdim=True)
            mismatch = torch.nn.functional.avg_pool2d(difference[None], 3, 1, 1, count_include_pad=False)[0].abs()
            gate = (1 - mismatch / MISMATCH).clamp(0, 1) * coverage(matrix, *photo.shape[-2:], photo.device)[0]
            out = styled + (self.weight * gate * (moved_out - styled.float())).to(styled.dtype)
        self.previous = (photo, out)
        return out

    def __call__(self, photos: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
        """Outputs for consecutive frames ``(B, C, H, W)`` (continuing from the last call)."""
        return torch.stack([self.step(p, s) for p, s in zip(photos, styled)])
