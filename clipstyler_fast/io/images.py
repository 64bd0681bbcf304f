"""Finding and reading images robustly: every mode, EXIF orientation, clear errors."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from clipstyler_fast.errors import ImageReadError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".jfif"}
)
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


def open_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``path`` fully, with its EXIF orientation applied, or raise :class:`ImageReadError`."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        with pillow_limit_off(), Image.open(path) as img:
            # ``max_pixels`` is the one limit: checked here from the header, before decoding, in
            # place of Pillow's own fixed thresholds.
            pixels = img.width * img.height
            if max_pixels is not None and pixels > max_pixels:
                raise ImageReadError(
                    path, f"{img.width}x{img.height} exceeds the pixel limit of {max_pixels} (possible decompression bomb); raise the limit option to allow it"
                )
            img.load()
            # exif_transpose returns a copy (or the image itself when there is nothing to do).
            out = ImageOps.exif_transpose(img)
            if out is img:
                out = img.copy()
            return out
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageReadError(path, f"too many pixels ({error})") from None
    except OSError as error:
        raise ImageReadError(path, f"unreadable or truncated image ({error})") from None
    except (ValueError, SyntaxError, EOFError, IndexError, TypeError, MemoryError) as error:
        raise ImageReadError(path, f"corrupt image ({type(error).__name__}: {error})") from None


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
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        array = np.asarray(rgba)
        alpha = torch.from_numpy(array[..., 3].copy()).unsqueeze(0).float() / 255.0
        rgb = array[..., :3]
    else:
        rgb = np.asarray(img.convert("RGB"))
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0, alpha


def read_rgb(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read ``path`` as an RGB float tensor ``(3, H, W)`` in [0, 1] (alpha dropped)."""
    rgb, _ = to_tensors(open_image(path, max_pixels))
    return rgb


def header_problem(path: Path) -> str | None:
    """Why ``path`` is not an image, from a cheap header check, or None when it looks fine.

    Full decoding happens later in the workers; files that fail only then are skipped there.
    """
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            img.verify()
        return None
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except Exception as error:  # Pillow raises many types for damaged headers
        return f"unreadable image ({type(error).__name__}: {error})"
