"""A synthetic world of procedural photos and a handful of known styles, with captions.

Real CLIP and real photos cannot be used here (no downloads), so "does the prompt show up in the
image?" is asked in a small world where every style is defined by pixels: a colour tint (red,
blue and six more hues), a texture (stripes, polka dots) and a line drawing (pencil sketch: dark lines along the
content's edges on white paper). A small CLIP of the real architecture is trained on this world
(``train_clip.py``) and an independent judge (``judge.py``) measures the same styles with pixel
statistics, never with CLIP.

Everything is a vectorised torch function of a seeded ``torch.Generator``: images are
``(N, 3, H, W)`` float tensors in [0, 1].
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

# The source text of the product (``--model.source_text``): plain photos are captioned with it.
# The world's VGG-19 has random weights; torchvision's initialisation keeps relu4_1 at a usable
# scale through its 13 layers, so the world is measured with the torchvision encoder.
ENCODER = "torchvision"
SOURCE_TEXT = "a Photo"

# Colour tints: style name -> target RGB. Eight hues, so that a network trained on some of them
# can be asked for one it never saw (any-prompt training).
TINTS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.12, 0.1),
    "blue": (0.1, 0.25, 1.0),
    "green": (0.1, 0.8, 0.15),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.5, 0.1, 0.8),
    "orange": (1.0, 0.5, 0.05),
    "cyan": (0.05, 0.8, 0.85),
    "pink": (1.0, 0.35, 0.7),
}
# style name -> the prompt that names it (what `fit --model.prompt` gets).
PROMPTS: dict[str, str] = {
    **{name: name.capitalize() for name in TINTS},
    "stripes": "Stripes",
    "dots": "Polka dots",
    "sketch": "Sketch with black pencil",
}
STYLES: tuple[str, ...] = tuple(PROMPTS)
# Classes of the world in a fixed order: index 0 is the plain photo.
CLASSES: tuple[str, ...] = ("photo", *STYLES)
CAPTION_TEXT: dict[str, str] = {"photo": SOURCE_TEXT, **PROMPTS}

# Texture scales, in pixels of the images CLIP sees: the judge looks for these frequencies.
STRIPE_PERIOD = (5.0, 9.0)
DOT_PERIOD = (7.0, 11.0)


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _grid(n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``(n, 1, H, W)`` in pixels."""
    ys = torch.arange(height, dtype=torch.float32).view(1, 1, height, 1).expand(n, 1, height, width)
    xs = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width).expand(n, 1, height, width)
    return ys, xs


def luminance(images: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma ``(N, 1, H, W)``."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def _colours(n: int, gen: torch.Generator, saturation: tuple[float, float] = (0.2, 0.8)) -> torch.Tensor:
    """Random colours ``(n, 3)`` of moderate saturation (no style owns a hue)."""
    rgb = torch.rand(n, 3, generator=gen)
    grey = rgb.mean(1, keepdim=True)
    sat = _uniform(n, *saturation, gen).view(n, 1)
    value = _uniform(n, 0.35, 0.95, gen).view(n, 1)
    colour = grey + sat * (rgb - grey) * 2
    return (colour / colour.amax(1, keepdim=True).clamp_min(1e-3) * value).clamp(0, 1)


def photos(n: int, size: int | tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """Procedural "photos": a sky-to-ground gradient with a horizon and 2-5 shaded shapes.

    Shapes (discs, boxes, bars) give the content edges that the sketch style draws and that the
    content loss must keep; colours are random, so no style's colour is the default.
    """
    height, width = (size, size) if isinstance(size, int) else size
    ys, xs = _grid(n, height, width)
    yn, xn = ys / height, xs / width
    sky_top, sky_bottom, ground = (_colours(n, gen).view(n, 3, 1, 1) for _ in range(3))
    horizon = _uniform(n, 0.45, 0.8, gen).view(n, 1, 1, 1)
    tilt = _uniform(n, -0.15, 0.15, gen).view(n, 1, 1, 1)
    line = horizon + tilt * (xn - 0.5)
    sky = sky_top + (sky_bottom - sky_top) * (yn / line).clamp(0, 1)
    below = torch.sigmoid((yn - line) * height * 2)
    shade = 1 - 0.35 * ((yn - line) / (1 - line).clamp_min(0.1)).clamp(0, 1)
    image = sky * (1 - below) + ground * shade * below
    for _ in range(5):
        present = (torch.rand(n, generator=gen) < 0.8).float().view(n, 1, 1, 1)
        colour = _colours(n, gen).view(n, 3, 1, 1)
        cy, cx = _uniform(n, 0.15, 0.85, gen).view(n, 1, 1, 1), _uniform(n, 0.15, 0.85, gen).view(n, 1, 1, 1)
        ry, rx = _uniform(n, 0.08, 0.3, gen).view(n, 1, 1, 1), _uniform(n, 0.08, 0.3, gen).view(n, 1, 1, 1)
        kind = torch.randint(0, 3, (n, 1, 1, 1), generator=gen)
        dy, dx = (yn - cy) / ry, (xn - cx) / rx
        disc = 1 - (dx**2 + dy**2).sqrt()
        box = 1 - torch.maximum(dx.abs(), dy.abs())
        bar = 1 - torch.maximum(dx.abs() * 0.4, dy.abs() * 2.5)
        inside = torch.where(kind == 0, disc, torch.where(kind == 1, box, bar))
        mask = torch.sigmoid(inside * min(height, width) * 0.25) * present
        light = 1 - 0.3 * (dx * 0.5 + dy * 0.5).clamp(-1, 1)
        image = image * (1 - mask) + (colour * light).clamp(0, 1) * mask
    noise = torch.randn(n, 3, height, width, generator=gen) * 0.015
    return (image + noise).clamp(0, 1)


# ---------------------------------------------------------------------------------- styles
def tint(images: torch.Tensor, colour: tuple[float, float, float], gen: torch.Generator) -> torch.Tensor:
    """Recolour the photo's luminance with ``colour`` (jittered), mixed in at 70-100%."""
    n = images.shape[0]
    base = torch.tensor(colour).view(1, 3)
    hue = (base + 0.08 * torch.randn(n, 3, generator=gen)).clamp(0, 1).view(n, 3, 1, 1)
    lum = luminance(images)
    tinted = (0.15 + 1.1 * lum) * hue
    strength = _uniform(n, 0.7, 1.0, gen).view(n, 1, 1, 1)
    return (images * (1 - strength) + tinted * strength).clamp(0, 1)


def _tint_style(colour: tuple[float, float, float]) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    return lambda images, gen: tint(images, colour, gen)


def _oriented_phase(images: torch.Tensor, period: torch.Tensor, angle: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n, _, height, width = images.shape
    ys, xs = _grid(n, height, width)
    c, s = angle.cos().view(n, 1, 1, 1), angle.sin().view(n, 1, 1, 1)
    offset = _uniform(n, 0, 1, gen).view(n, 1, 1, 1)
    return (xs * c + ys * s) / period.view(n, 1, 1, 1) + offset


def stripes(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Dark parallel stripes (period 5-9 px, any of four orientations) over the photo."""
    n = images.shape[0]
    period = _uniform(n, *STRIPE_PERIOD, gen)
    angle = torch.randint(0, 4, (n,), generator=gen) * (math.pi / 4) + 0.1 * torch.randn(n, generator=gen)
    phase = _oriented_phase(images, period, angle, gen)
    band = torch.sigmoid(torch.cos(2 * math.pi * phase) * 6)
    strength = _uniform(n, 0.6, 0.9, gen).view(n, 1, 1, 1)
    return (images * (1 - strength * band)).clamp(0, 1)


def dots(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Dark polka dots on a square lattice (period 7-11 px, radius a third of it) over the photo."""
    n, _, height, width = images.shape
    period = _uniform(n, *DOT_PERIOD, gen).view(n, 1, 1, 1)
    angle = _uniform(n, 0, math.pi / 2, gen).view(n, 1, 1, 1)
    ys, xs = _grid(n, height, width)
    u = (xs * angle.cos() + ys * angle.sin()) / period + _uniform(n, 0, 1, gen).view(n, 1, 1, 1)
    v = (-xs * angle.sin() + ys * angle.cos()) / period + _uniform(n, 0, 1, gen).view(n, 1, 1, 1)
    distance = ((u - u.round()) ** 2 + (v - v.round()) ** 2).sqrt()
    dot = torch.sigmoid((0.32 - distance) * period * 1.5)
    strength = _uniform(n, 0.65, 0.9, gen).view(n, 1, 1, 1)
    return (images * (1 - strength * dot)).clamp(0, 1)


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance ``(N, 1, H, W)``, each image scaled to its 97th percentile."""
    from clipstyler_fast.eval.metrics import edge_magnitude

    magnitude = edge_magnitude(images, sigma=0).unsqueeze(1)
    scale = magnitude.flatten(1).quantile(0.97, dim=1).clamp_min(0.02).view(-1, 1, 1, 1)
    return (magnitude / scale).clamp(0, 1)


def sketch(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A pencil sketch: grey-black lines along the content's edges on white paper."""
    n, _, height, width = images.shape
    lines = edge_map(images)
    darkness = _uniform(n, 0.7, 0.95, gen).view(n, 1, 1, 1)
    grain = 0.02 * torch.randn(n, 1, height, width, generator=gen)
    paper = _uniform(n, 0.9, 1.0, gen).view(n, 1, 1, 1)
    return (paper - darkness * lines + grain).clamp(0, 1).expand(n, 3, height, width).contiguous()


STYLE_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    **{name: _tint_style(colour) for name, colour in TINTS.items()},
    "stripes": stripes,
    "dots": dots,
    "sketch": sketch,
}


# ---------------------------------------------------------------------- hard negatives
def hard_negatives(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Photos changed in ways that are none of the styles, all captioned as plain photos.

    Darkened, greyed, washed-out and blank images are what a CLIP-guided decoder reaches for
    when it cannot make the style (a black or white page, a drained image): a CLIP that has
    seen them labelled "a Photo" is harder to fool.
    """
    n = images.shape[0]
    kind = torch.randint(0, 5, (n,), generator=gen).view(n, 1, 1, 1)
    darkened = images * _uniform(n, 0.15, 0.55, gen).view(n, 1, 1, 1)
    greyed = luminance(images).expand_as(images)
    washed = 1 - (1 - images) * _uniform(n, 0.15, 0.5, gen).view(n, 1, 1, 1)
    blank_colour = torch.where(torch.rand(n, 1, generator=gen) < 0.5, _colours(n, gen), torch.rand(n, 1, generator=gen).expand(n, 3))
    blank = blank_colour.view(n, 3, 1, 1).expand_as(images) + 0.015 * torch.randn(images.shape, generator=gen)
    low_contrast = images.mean((2, 3), keepdim=True) + (images - images.mean((2, 3), keepdim=True)) * 0.3
    out = torch.where(
        kind == 0, darkened, torch.where(kind == 1, greyed, torch.where(kind == 2, washed, torch.where(kind == 3, blank, low_contrast)))
    )
    return out.clamp(0, 1)


def random_views(images: torch.Tensor, gen: torch.Generator, fraction: float = 0.5) -> torch.Tensor:
    """Random zooms, rotations and shears with black fill, on ``fraction`` of the images.

    During training the product shows CLIP perspective views of its outputs (zoomed in up to
    about twice, black outside the warped quad), so CLIP must know styles under such views too.
    """
    n = images.shape[0]
    scale = _uniform(n, 0.5, 1.05, gen)
    angle = _uniform(n, -0.4, 0.4, gen)
    shear = _uniform(n, -0.3, 0.3, gen)
    shift = _uniform(2 * n, -0.3, 0.3, gen).view(n, 2)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale * angle.cos()
    theta[:, 0, 1] = -scale * angle.sin() + shear * scale
    theta[:, 1, 0] = scale * angle.sin()
    theta[:, 1, 1] = scale * angle.cos()
    theta[:, :, 2] = shift * (1.05 - scale).view(n, 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    chosen = (torch.rand(n, generator=gen) < fraction).view(n, 1, 1, 1)
    return torch.where(chosen, warped, images)


def sample(n_per_class: int, size: int, gen: torch.Generator, negatives: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and class indices (into :data:`CLASSES`), ``n_per_class`` of each class.

    A ``negatives`` fraction of the plain-photo class are hard negatives.
    """
    images, labels = [], []
    for index, name in enumerate(CLASSES):
        base = photos(n_per_class, size, gen)
        if name == "photo":
            mixed = hard_negatives(base, gen)
            chosen = (torch.rand(n_per_class, generator=gen) < negatives).view(-1, 1, 1, 1)
            styled = torch.where(chosen, mixed, base)
        else:
            styled = STYLE_FUNCTIONS[name](base, gen)
        images.append(styled)
        labels.append(torch.full((n_per_class,), index))
    return torch.cat(images), torch.cat(labels)


def caption(label: int, rng: random.Random) -> str:
    """A caption of a class: one of the 79 ImageNet templates filled with its text."""
    from clipstyler_fast.objective.templates import IMAGENET_TEMPLATES

    return rng.choice(IMAGENET_TEMPLATES).format(CAPTION_TEXT[CLASSES[label]])


def save_photos(folder: Path, count: int, size: int | tuple[int, int], seed: int, prefix: str = "photo") -> list[Path]:
    """Write ``count`` procedural photos as PNG files (the content folders of fit and predict)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    images = photos(count, size, torch.Generator().manual_seed(seed))
    paths = []
    for i, image in enumerate(images):
        array = (image.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
        path = folder / f"{prefix}_{i:03d}.png"
        Image.fromarray(array, "RGB").save(path)
        paths.append(path)
    return paths


def load_images(paths: list[Path]) -> torch.Tensor:
    """Read PNG files back as one ``(N, 3, H, W)`` tensor (they must share a size)."""
    import numpy as np
    from PIL import Image

    arrays = [np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in paths]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
