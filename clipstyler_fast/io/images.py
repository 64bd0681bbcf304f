"""Finding and reading images robustly: every mode, EXIF orientation, clear errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from clipstyler_fast.errors import ImageReadError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".jfif"})
# Pillow's own decompression-bomb limit; an image above it is refused rather than decoded.
DEFAULT_MAX_PIXELS = 178_956_970


def list_images(root: str | Path) -> list[Path]:
    """All image files under ``root`` (recursive, sorted, hidden entries skipped), or ``[root]`` for a file."""
    root = Path(root).expanduser()
    if root.is_file():
        return [root]
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.append(path)
    return sorted(found)


_PILLOW_LIMIT_LOCK = threading.Lock()
_pillow_limit_users = 0
_pillow_limit_saved: int | None = None


@contextmanager
def pillow_limit_off() -> Iterator[None]:
    """Switch Pillow's fixed decompression-bomb thresholds off while images are read with our own
    ``max_pixels`` check (reference-counted, so concurrent readers restore the setting once)."""
    global _pillow_limit_users, _pillow_limit_saved
    with _PILLOW_LIMIT_LOCK:
        if _pillow_limit_users == 0:
            _pillow_limit_saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        _pillow_limit_users += 1
    try:
        yield
    finally:
        with _PILLOW_LIMIT_LOCK:
            _pillow_limit_users -= 1
            if _pillow_limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_limit_saved


# EXIF orientations that swap width and height (transposed and rotated by 90 or 270 degrees).
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn whatever Pillow raises for a damaged or foreign file into a one-line :class:`ImageReadError`."""
    try:
        yield
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageReadError(path, f"too many pixels ({error})") from None
    except OSError as error:
        raise ImageReadError(path, f"unreadable or truncated image ({error})") from None
    except Exception as error:  # Pillow raises many types (SyntaxError, struct.error, ...) for damaged files
        raise ImageReadError(path, f"corrupt image ({type(error).__name__}: {error})") from None


@contextmanager
def _opened(path: Path, max_pixels: int | None) -> Iterator[Image.Image]:
    """``path`` opened lazily (header read, nothing decoded) once it passes the checks every reader makes:
    not empty, an image, at most ``max_pixels`` pixels. Problems raise :class:`ImageReadError`."""
    with _reading(path):
        if path.stat().st_size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        # max_pixels is the one limit: Pillow's own fixed thresholds are off while this file is open.
        with pillow_limit_off(), Image.open(path) as img:
            width, height = img.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageReadError(
                    path,
                    f"{width}x{height} exceeds the pixel limit of {max_pixels} (possible decompression bomb); raise `max_pixels` to allow it",
                )
            yield img


def probe_image(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, verify: bool = False, oriented: bool = True
) -> tuple[int, int]:
    """``(width, height)`` of an image as it will be decoded (EXIF orientation applied), from its header.

    Raises :class:`ImageReadError` for an empty file, a file Pillow cannot identify, a damaged
    header, or more than ``max_pixels`` pixels (None: no limit) without decoding the image. ``verify`` also runs Pillow's structural check
    of the file (chunk checksums for PNG), which reads more of it. ``oriented=False`` returns the
    size as stored, without reading EXIF (for PNG that can mean decoding: its EXIF may follow the
    pixel data).
    """
    path = Path(path)
    with _opened(path, max_pixels) as img:
        width, height = img.size
        orientation = img.getexif().get(0x0112, 1) if oriented else 1
    if verify:
        with _opened(path, max_pixels) as img:
            img.verify()  # must come first after opening, and leaves the image unusable
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def open_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``path`` fully, with its EXIF orientation applied, or raise :class:`ImageReadError`.

    The header checks of :func:`probe_image` come first, so an over-sized image is refused unread.
    """
    path = Path(path)
    with _opened(path, max_pixels) as img, _reading(path):
        img.load()
        # exif_transpose returns a copy (or the image itself when there is nothing to do).
        out = ImageOps.exif_transpose(img)
        return img.copy() if out is img else out


def long_side_size(height: int, width: int, long_side: int | None) -> tuple[int, int]:
    """``(height, width)`` scaled so that the longer side is ``long_side`` (aspect ratio kept, rounded, at least 1)."""
    if not long_side:
        return height, width
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_long_side(image: torch.Tensor, long_side: int | None, *, shrink_only: bool = False) -> torch.Tensor:
    """``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1] resized so its longer side is ``long_side`` (see :func:`long_side_size`).

    Bilinear with antialiasing, clamped to [0, 1]. ``shrink_only`` leaves images already no
    larger alone; ``long_side`` None leaves every image alone.
    """
    if not long_side or (shrink_only and max(image.shape[-2:]) <= long_side):
        return image
    size = long_side_size(image.shape[-2], image.shape[-1], long_side)
    if size == tuple(image.shape[-2:]):
        return image
    batch = image if image.dim() == 4 else image[None]
    out = F.interpolate(batch, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return out if image.dim() == 4 else out[0]


def to_tensors(img: Image.Image) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Convert any Pillow image to ``(rgb, alpha)``: float ``(3, H, W)`` in [0, 1] and ``(1, H, W)`` or None.

    Handles 1-bit, grayscale, palette (with transparency), CMYK, YCbCr, LAB, HSV, 16-bit and
    float images.
    """
    mode = img.mode
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(img, dtype=np.float32)
        if mode != "F":
            scale = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
            array = array / scale
        gray = torch.from_numpy(np.clip(array, 0.0, 1.0)).unsqueeze(0)
        return gray.expand(3, -1, -1).contiguous(), None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        array = np.asarray(img.convert("RGBA"))
        alpha = torch.from_numpy(array[..., 3].copy()).unsqueeze(0).float() / 255.0
        rgb = array[..., :3]
    else:
        rgb = np.asarray(img.convert("RGB"))
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0, alpha


def read_rgb(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read ``path`` as an RGB float tensor ``(3, H, W)`` in [0, 1] (alpha dropped)."""
    return to_tensors(open_image(path, max_pixels))[0]
