"""A style as people share models: one folder with ``model.safetensors`` and ``config.json`` (written by
:mod:`clipstyler_fast.nets.style_folder`), a model card ``README.md`` and a ``preview.jpg`` grid,
ready to load with every command or to upload to the Hugging Face Hub as it is.

The preview shows photos above their stylizations: photos the caller picks (the training run's
held-out photos, or photos of the user's), else a few built-in synthetic images. Everything is
computed before the first file is written, so a refusal leaves the folder as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from clipstyler_fast.errors import OutputError
from clipstyler_fast.infer.any_prompt import check_prompt, prompt_directions
from clipstyler_fast.infer.model_card import CARD_FILE, CardFacts, write_card
from clipstyler_fast.infer.predict.writer import save_atomic
from clipstyler_fast.infer.run_record import read_run_record
from clipstyler_fast.infer.stylizer import Stylizer, to_pil, to_uint8
from clipstyler_fast.io.images import open_image, to_tensors
from clipstyler_fast.nets.conditioned_file import ConditionedFile
from clipstyler_fast.nets.hub import is_hub_id
from clipstyler_fast.nets.style_file import FORMAT_KEY, StyleFile, StyleRecord, read_checkpoint
from clipstyler_fast.nets.style_folder import CONFIG_FILE, WEIGHTS_FILE, SharedStyle, write_style_folder

PREVIEW_FILE = "preview.jpg"
OUTPUT_FILES = (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE, PREVIEW_FILE)
PREVIEW_SIDE = 192
PREVIEW_PHOTOS = 4
# Rows of an any-prompt network's preview when no prompt is asked for: the first prompts of its bank.
PREVIEW_PROMPTS = 3
SYNTHETIC_LABEL = "built-in synthetic images (no photos were available)"


def synthetic_photos(side: int = PREVIEW_SIDE) -> list[torch.Tensor]:
    """Four stand-ins for photos, ``(3, side, side)`` in [0, 1]: a sunset over hills, rings, a
    checkerboard and soft blobs of colour (the same on every machine)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    sky = torch.stack([0.9 - 0.3 * y, 0.5 + 0.2 * y, 0.3 + 0.6 * y])
    sun = ((x - 0.65) ** 2 + (y - 0.35) ** 2 < 0.01).float()
    hills = (y > 0.7 + 0.08 * torch.sin(9 * x)).float()
    sunset = sky * (1 - sun) + torch.tensor([1.0, 0.85, 0.4])[:, None, None] * sun
    sunset = sunset * (1 - hills) + torch.stack([0.15 + 0 * y, 0.35 - 0.1 * y, 0.15 + 0 * y]) * hills
    radius = ((x - 0.5) ** 2 + (y - 0.5) ** 2).sqrt()
    rings = torch.stack([0.5 + 0.5 * torch.sin(30 * radius), 0.5 + 0.5 * torch.cos(20 * radius), 1 - radius])
    board = ((x * 6).floor() + (y * 6).floor()) % 2
    checker = torch.stack([0.2 + 0.7 * board, 0.3 + 0.4 * x, 0.8 - 0.6 * board])
    blobs = torch.stack([torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.05) for cx, cy in ((0.3, 0.3), (0.7, 0.4), (0.45, 0.75))])
    return [image.clamp(0, 1) for image in (sunset, rings, checker, 0.15 + 0.85 * blobs)]


def square(image: torch.Tensor, side: int = PREVIEW_SIDE) -> torch.Tensor:
    """The centre square of ``(3, H, W)`` resized to ``side`` pixels."""
    height, width = image.shape[-2:]
    edge = min(height, width)
    top, left = (height - edge) // 2, (width - edge) // 2
    crop = image[None, :, top : top + edge, left : left + edge].float()
    return F.interpolate(crop, size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def preview_grid(styles: Sequence[StyleFile], photos: Sequence[torch.Tensor], vgg_weights: str | None, device: Any) -> Image.Image:
    """Photos in the top row, each style's stylizations of them in a row below."""
    from torchvision.utils import make_grid

    batch = torch.stack(list(photos))
    rows = [batch]
    for style in styles:
        stylizer = Stylizer.from_style(style, vgg_weights, device)
        with torch.inference_mode():
            rows.append(stylizer(batch.to(stylizer.device)).float().cpu())
    grid = make_grid(torch.cat(rows), nrow=len(photos), padding=2, pad_value=1.0)
    return to_pil(to_uint8(grid))


def shared_contents(checkpoint: dict[str, Any], source: str | Path) -> SharedStyle:
    """What a shared folder holds of a style: its record (brought to this version's format), its
    training options and its tensors, exactly as the style file holds them."""
    if StyleRecord.from_checkpoint(checkpoint, source).is_conditioned:
        normal = ConditionedFile.from_checkpoint(checkpoint, source).to_checkpoint()
    else:
        normal = StyleFile.from_checkpoint(checkpoint, source).require_style().to_checkpoint()
    options = {k: v for k, v in normal["hyper_parameters"].items() if not k.startswith("_")}
    return SharedStyle(normal[FORMAT_KEY], options, normal["state_dict"])


def preview_styles(shared: SharedStyle, source: str | Path, prompts: Sequence[str], clip_model: str | None) -> list[StyleFile]:
    """The styles of the preview's rows: the style itself, or an any-prompt network at each prompt
    (``prompts``, else the first ones of its bank)."""
    checkpoint = {"state_dict": shared.tensors, "hyper_parameters": shared.hyper_parameters, FORMAT_KEY: shared.record}
    if not StyleRecord.from_checkpoint(checkpoint, source).is_conditioned:
        return [StyleFile.from_checkpoint(checkpoint, source)]
    network = ConditionedFile.from_checkpoint(checkpoint, source)
    chosen = [check_prompt(p, source) for p in prompts] or network.bank[:PREVIEW_PROMPTS]
    return [network.style_file(p, d) for p, d in zip(chosen, prompt_directions(network, chosen, clip_model))]


def share_style(
    source: str | Path,
    folder: str | Path,
    *,
    photos: Sequence[Path] = (),
    photos_label: str = "photos",
    prompts: Sequence[str] = (),
    clip_model: str | None = None,
    vgg_weights: str | None = None,
    device: Any = "cpu",
    repo_id: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the shared folder of the style at ``source`` (a style file, a shared folder or an
    ``hf://`` repository) into ``folder``; returns the files written.

    ``photos`` (the first :data:`PREVIEW_PHOTOS`) make the preview, described in the card as
    ``photos_label``; without them it shows :func:`synthetic_photos`. ``repo_id`` (``user/name``)
    fills in the card's commands. Problems raise a one-line :class:`~clipstyler_fast.errors.ClipstylerError`.
    """
    folder = Path(folder).expanduser()
    present = [name for name in OUTPUT_FILES if (folder / name).exists()]
    if present and not overwrite:
        raise OutputError(f"{folder}: already holds a shared style ({', '.join(present)}); pass `overwrite` true to replace it")
    checkpoint = read_checkpoint(source)
    shared = shared_contents(checkpoint, source)
    styles = preview_styles(shared, source, prompts, clip_model)
    pictures = [square(to_tensors(open_image(p))[0]) for p in photos[:PREVIEW_PHOTOS]] or synthetic_photos()
    grid = preview_grid(styles, pictures, vgg_weights, device)
    local = None if is_hub_id(source) else Path(source).expanduser()
    run = read_run_record(checkpoint, local.parent if local is not None and local.is_file() else None)
    written = write_style_folder(folder, shared)
    save_atomic(grid, folder / PREVIEW_FILE, quality=90)
    label = photos_label if photos else SYNTHETIC_LABEL
    record = StyleRecord.from_checkpoint({FORMAT_KEY: shared.record}, source)
    rows = [str(style.record.prompt) for style in styles] if record.is_conditioned else []
    facts = CardFacts(record, shared.hyper_parameters, run, folder, repo_id, PREVIEW_FILE, label, rows)
    return [*written, folder / PREVIEW_FILE, write_card(facts)]
