"""``clipstyler-fast evaluate``: score stylized images against their contents, per image and on average.

Either stylizes a folder of contents with a checkpoint and scores the results, or scores an
existing folder of stylized outputs (``--stylized_dir``) against the contents they came from.
Writes a per-image CSV and prints a summary table.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clipstyler_fast.errors import DataError, EvaluationError, ImageReadError
from clipstyler_fast.eval.metrics import content_ssim, directional_similarity, edge_keeping, patch_directional_similarity
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.io.atomic import atomic_write
from clipstyler_fast.io.images import IMAGE_SUFFIXES, list_images, read_rgb, resize_long_side
from clipstyler_fast.nets.clip_model import ClipEncoder
from clipstyler_fast.nets.style_file import DEFAULT_SOURCE_TEXT, StyleRecord
from clipstyler_fast.objective import losses

COLUMNS = ("image", "stylized", "width", "height")
# Random patches per image for the patch-level scores, and their side as a fraction of the image's.
PATCHES = 16
PATCH_CROP = 0.5


@dataclass(frozen=True)
class ClipScorer:
    """A CLIP model and the prompt's text direction in its space; its scores are named ``<name>_direction``
    (the whole image) and ``<name>_patch_direction`` (random patches)."""

    name: str
    clip: ClipEncoder
    direction: torch.Tensor


@dataclass
class Results:
    """Per-image rows, the running means, and the images that could not be scored."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [float(row[metric]) for row in self.rows]

    def metrics(self) -> list[str]:
        """The score columns, in order (everything after the image's name and size)."""
        return [key for key in self.rows[0] if key not in COLUMNS] if self.rows else []


def style_direction(
    clip: ClipEncoder, record: StyleRecord | None, prompt: str | None = None, source_text: str | None = None
) -> torch.Tensor:
    """The text direction to score against, computed with ``clip``.

    ``prompt`` wins when given; otherwise the checkpoint's prompt, or for a blended checkpoint
    ``normalize((1 - alpha) dA + alpha dB)`` of its two prompts.
    """
    blend = record.interpolation if record is not None else None
    if prompt is None and isinstance(blend, dict):
        (pa, pb), alpha = blend["prompts"], float(blend["alpha"])
        sa, sb = blend.get("source_texts") or [DEFAULT_SOURCE_TEXT, DEFAULT_SOURCE_TEXT]
        da = losses.text_direction(clip.encode_text, pa, source_text or sa)
        db = losses.text_direction(clip.encode_text, pb, source_text or sb)
        return losses.normalize((1 - alpha) * da + alpha * db)
    prompt = prompt or (record.prompt if record is not None else None)
    if not prompt:
        raise EvaluationError('no prompt to score against; pass `prompt` "..." (or a `checkpoint` that records one)')
    default_source = record.source_text if record is not None else DEFAULT_SOURCE_TEXT
    return losses.text_direction(clip.encode_text, prompt, source_text or default_source)


def find_stylized(content: Path, content_root: Path, stylized_root: Path) -> Path | None:
    """The stylized output of ``content``: same relative path and stem under ``stylized_root``, any image suffix.

    Falls back to a single file in the same relative folder whose name starts with the content's
    stem (``photo_stylized.png`` for ``photo.jpg``).
    """
    rel = content.relative_to(content_root) if content_root.is_dir() else Path(content.name)
    folder = stylized_root / rel.parent
    if not folder.is_dir():
        return None
    suffixes = sorted(IMAGE_SUFFIXES)
    for candidate in (folder / f"{rel.stem}{suffix}" for suffix in [*suffixes, *map(str.upper, suffixes)]):
        if candidate.is_file():
            return candidate
    prefixed = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.stem.startswith(rel.stem)]
    return prefixed[0] if len(prefixed) == 1 else None


def _pairs(
    contents: list[Path],
    content_root: Path,
    stylizer: Stylizer | None,
    stylized_root: Path | None,
    device: torch.device,
    max_side: int | None,
    results: Results,
) -> Iterator[tuple[Path, str, torch.Tensor, torch.Tensor]]:
    """Yield ``(content path, stylized name, content, stylized)`` for every usable content image."""
    for path in contents:
        try:
            content = resize_long_side(read_rgb(path), max_side, shrink_only=True).to(device)
        except ImageReadError as error:
            results.skipped.append(str(error))
            continue
        if stylizer is not None:
            with torch.no_grad():
                stylized = stylizer(content[None])[0].float()
            yield path, "", content, stylized
            continue
        assert stylized_root is not None
        match = find_stylized(path, content_root, stylized_root)
        if match is None:
            results.skipped.append(f"{path}: no stylized output found under {stylized_root}")
            continue
        try:
            stylized = read_rgb(match).to(device)
        except ImageReadError as error:
            results.skipped.append(str(error))
            continue
        stylized = resize_long_side(stylized, max_side, shrink_only=True)
        if stylized.shape != content.shape:
            results.skipped.append(
                f"{match}: size {stylized.shape[-1]}x{stylized.shape[-2]} differs from its content's "
                f"{content.shape[-1]}x{content.shape[-2]}; stylized outputs must keep the content's size"
            )
            continue
        yield path, str(match), content, stylized


def _inputs(contents_path: str | Path, stylized_dir: str | Path | None) -> tuple[Path, list[Path], Path | None]:
    """The content root, its images and the stylized folder, or a one-line error naming the missing one."""
    root = Path(contents_path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: content folder does not exist; pass an existing folder of images as `path`")
    contents = list_images(root)
    if not contents:
        raise DataError(f"{root}: no images found; pass a folder of content images as `path`")
    stylized_root = Path(stylized_dir).expanduser() if stylized_dir is not None else None
    if stylized_root is not None and not stylized_root.is_dir():
        raise DataError(f"{stylized_root}: stylized folder does not exist; pass the folder predict wrote as `stylized_dir`")
    return root, contents, stylized_root


@torch.no_grad()
def _scores(scorers: list[ClipScorer], stylized: torch.Tensor, content: torch.Tensor, patches: int, index: int) -> dict[str, float]:
    """Every metric of one (stylized, content) pair: each scorer's whole-image and patch directions,
    content SSIM and edge keeping."""
    row: dict[str, float] = {}
    for scorer in scorers:
        features = scorer.clip.encode_image(torch.stack([stylized, content]))
        whole = directional_similarity(features[:1], features[1:], scorer.direction)
        # The same patches for every scorer and every run: seeded by the image's position.
        generator = torch.Generator().manual_seed(index)
        patch = patch_directional_similarity(
            scorer.clip.encode_image, stylized[None], features[1:], scorer.direction, patches, PATCH_CROP, generator
        )
        row[f"{scorer.name}_direction"] = float(whole[0])
        row[f"{scorer.name}_patch_direction"] = float(patch[0])
    row["content_ssim"] = float(content_ssim(stylized[None], content[None])[0])
    row["edge_keeping"] = float(edge_keeping(stylized[None], content[None])[0])
    return row


def evaluate(
    contents_path: str | Path,
    clip: ClipEncoder,
    direction: torch.Tensor,
    stylizer: Stylizer | None = None,
    stylized_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    max_side: int | None = None,
    progress: bool = False,
    judge: tuple[ClipEncoder, torch.Tensor] | None = None,
    patches: int = PATCHES,
) -> tuple[Results, dict[str, float]]:
    """Score every content image under ``contents_path``; returns per-image results and the means.

    Stylized images come from ``stylizer`` or, when it is None, from ``stylized_dir``. ``clip``
    and ``direction`` give ``clip_direction`` and ``clip_patch_direction``; a ``judge`` (another
    CLIP and the same prompt's direction in its space) gives ``judge_direction`` and
    ``judge_patch_direction``: a second opinion from a model the style was not trained against.
    """
    if (stylizer is None) == (stylized_dir is None):
        raise EvaluationError("give either a `checkpoint` to stylize with or `stylized_dir`, not both")
    root, contents, stylized_root = _inputs(contents_path, stylized_dir)
    device = torch.device(device)
    scorers = [ClipScorer("clip", clip.to(device), direction.to(device))]
    if judge is not None:
        scorers.append(ClipScorer("judge", judge[0].to(device), judge[1].to(device)))
    results = Results()
    pairs = _pairs(contents, root, stylizer, stylized_root, device, max_side, results)
    if progress:
        from tqdm import tqdm

        pairs = tqdm(pairs, total=len(contents), desc="evaluate", unit="image", file=sys.stderr)
    for index, (path, stylized_name, content, stylized) in enumerate(pairs):
        row: dict[str, Any] = {
            "image": str(path.relative_to(root)) if root.is_dir() else path.name,
            "stylized": stylized_name,
            "width": content.shape[-1],
            "height": content.shape[-2],
        }
        results.rows.append({**row, **_scores(scorers, stylized, content, patches, index)})
    if not results.rows:
        first = results.skipped[0] if results.skipped else "nothing to score"
        raise DataError(f"no image could be scored ({len(results.skipped)} skipped; first: {first})")
    means = {metric: sum(results.values(metric)) / len(results.rows) for metric in results.metrics()}
    return results, means


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the per-image rows to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else list(COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})
    data = buffer.getvalue().encode("utf-8")
    atomic_write(path, lambda handle: handle.write(data))
    return path


def summary_table(results: Results, means: dict[str, float]) -> str:
    """A plain-text table: one row per metric with mean, std, min, max and the image count."""
    lines = [f"{'metric':<24}{'mean':>10}{'std':>10}{'min':>10}{'max':>10}{'images':>8}"]
    for metric in results.metrics():
        values = results.values(metric)
        mean = means[metric]
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        lines.append(f"{metric:<24}{mean:>10.4f}{std:>10.4f}{min(values):>10.4f}{max(values):>10.4f}{len(values):>8}")
    return "\n".join(lines)
