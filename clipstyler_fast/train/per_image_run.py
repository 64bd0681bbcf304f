"""A per-image optimisation over files and folders: what ``clipstyler-fast optimize`` runs.

Inputs and output names follow ``predict`` (sub-folders and names kept, ``.png`` outputs). An
output is written atomically once its photo is done, so a stopped run goes on where it stopped:
photos whose output exists are skipped (unless ``overwrite``), none is done twice and none is
lost. An unreadable photo is reported in one line and the others go on.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from clipstyler_fast.errors import ImageReadError
from clipstyler_fast.infer.predict.data import find_inputs
from clipstyler_fast.infer.predict.writer import check_output_folder, plan_outputs, save_atomic
from clipstyler_fast.infer.stylizer import postprocess, to_pil, to_uint8
from clipstyler_fast.io.images import long_side_size, read_rgb

GRID = 8  # the U-Net halves the size three times


@dataclass(frozen=True)
class PerImageJob:
    """Everything one ``optimize`` run needs: the style, the recipe, the photos and where outputs go."""

    prompt: str
    inputs: Sequence[Path]
    output_dir: Path
    source_text: str = "a Photo"
    clip_model: str = "ViT-B/32"
    clip_download_root: str | None = None
    vgg_weights: str = "auto"
    init_from: str | None = None
    recipe: dict[str, float] = field(default_factory=dict)
    unet_width: int = 16
    size: int = 512
    square: bool = False
    every: int = 0
    overwrite: bool = False
    postprocess: str = "contrast"
    steps: int = 200
    precision: str = "32-true"
    seed: int = 0
    device: str = "auto"
    progress: bool = True


def working_size(height: int, width: int, size: int, square: bool = False) -> tuple[int, int]:
    """The size a photo is optimised at: its long side ``size`` (aspect kept) or ``size`` x ``size``,
    each side rounded to the nearest multiple of 8 (at least 8)."""
    height, width = (size, size) if square else long_side_size(height, width, size)
    return max(GRID, round(height / GRID) * GRID), max(GRID, round(width / GRID) * GRID)


def prepare(image: torch.Tensor, size: int, square: bool = False) -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] -> ``(1, 3, h, w)`` at :func:`working_size` (bicubic, antialiased, clamped)."""
    target = working_size(image.shape[-2], image.shape[-1], size, square)
    if target == tuple(image.shape[-2:]):
        return image[None]
    return F.interpolate(image[None], size=target, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def image_seed(seed: int, relative: Path) -> int:
    """A photo's own seed, from the run's seed and its relative path: the same photo gets the same
    result whatever else the run holds, and whether or not the run was resumed."""
    return (seed * 1_000_003 + zlib.crc32(relative.as_posix().encode())) % 2**31


def run_job(job: PerImageJob, warn: Callable[[str], None]) -> str:
    """Optimise every photo of ``job`` not done yet; returns a one-line summary."""
    inputs = find_inputs(list(job.inputs))
    check_output_folder(job.output_dir, list(job.inputs))
    outputs, refused = plan_outputs(inputs, job.output_dir, ".png")
    for index, reason in refused.items():
        warn(f"{inputs[index].path}: {reason}")
    todo = [index for index in sorted(outputs) if job.overwrite or not outputs[index].exists()]
    earlier = len(outputs) - len(todo)
    if not todo:
        return f"nothing to do: all {earlier} outputs exist in {job.output_dir} (pass `overwrite` true to redo them)"
    optimizer = _optimizer(job)
    written, failed = 0, 0
    for index in _bar(todo, job.progress, "photos"):
        item, target = inputs[index], outputs[index]
        try:
            content = prepare(read_rgb(item.path), job.size, job.square)
        except ImageReadError as error:
            warn(str(error))
            failed += 1
            continue
        steps = _bar(range(job.steps + 1), job.progress, item.relative.as_posix(), leave=False)
        on_step = _step_saver(job, target, steps)
        output = optimizer.optimize(content, image_seed(job.seed, item.relative), on_step)
        if hasattr(steps, "close"):
            steps.close()
        _save(output, target, job.postprocess)
        written += 1
    parts = [f"wrote {written} stylized photo{'s' * (written != 1)} to {job.output_dir}"]
    if earlier:
        parts.append(f"{earlier} done by an earlier run")
    if failed or refused:
        parts.append(f"{failed + len(refused)} skipped (see the warnings above)")
    return "; ".join(parts)


def _optimizer(job: PerImageJob) -> object:
    """Load the frozen networks and the text direction once for the whole run."""
    from lightning.fabric import Fabric

    from clipstyler_fast.infer.any_prompt import is_any_prompt, load_style
    from clipstyler_fast.infer.network import load_network
    from clipstyler_fast.nets.clip_model import load_clip
    from clipstyler_fast.nets.unet import UNetConfig
    from clipstyler_fast.nets.vgg import load_content_layers
    from clipstyler_fast.objective import losses
    from clipstyler_fast.objective.per_image import PerImageWeights
    from clipstyler_fast.train.per_image import PerImageOptimizer, PerImageSchedule

    recipe = dict(job.recipe)
    schedule = PerImageSchedule(steps=job.steps, **{k: recipe.pop(k) for k in ("lr", "lr_step", "lr_gamma") if k in recipe})
    weights = PerImageWeights(**recipe)
    start = None
    if job.init_from:
        prompt = job.prompt if is_any_prompt(job.init_from) else None
        start = load_network(load_style(job.init_from, prompt, job.clip_model))
    clip = load_clip(job.clip_model, job.clip_download_root)
    direction = losses.text_direction(clip.encode_text, job.prompt, job.source_text)
    # A Lightning Fabric on one device: auto, cpu, cuda, cuda:N or mps.
    kind, _, index = job.device.partition(":")
    fabric = Fabric(accelerator=kind, devices=[int(index)] if index else 1, precision=job.precision)  # type: ignore[arg-type]
    return PerImageOptimizer(
        fabric, clip, load_content_layers(job.vgg_weights), direction, weights, schedule, start, UNetConfig(ngf=job.unet_width)
    )


def _bar(items: Sequence[int] | range, enabled: bool, desc: str, leave: bool = True) -> object:
    if not enabled:
        return items
    import sys

    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="photo" if leave else "step", leave=leave, file=sys.stderr, dynamic_ncols=True)


def _step_saver(job: PerImageJob, target: Path, bar: object) -> Callable[[int, dict[str, float], torch.Tensor], None]:
    """Per step: the bar's loss, and the intermediate output every ``job.every`` steps."""

    def on_step(step: int, terms: dict[str, float], output: torch.Tensor) -> None:
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{terms['total']:.3g}", refresh=False)
            bar.update(1)
        if job.every and step and step % job.every == 0 and step < job.steps:
            _save(output.float().cpu(), target.with_name(f"{target.stem}_step{step}.png"), job.postprocess)

    return on_step


def _save(output: torch.Tensor, target: Path, mode: str) -> None:
    """Clamp, post-process (``contrast``: the published x1.5 and min-max) and write atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(to_pil(to_uint8(postprocess(output.clamp(0, 1), mode))[0]), target)
