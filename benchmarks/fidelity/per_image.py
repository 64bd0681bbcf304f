"""Per-image mode against the fast mode in the synthetic world, and the steps a trained style saves.

For each style: the fast mode's network is trained through ``fit`` (reference recipe) and
predicts the held-out photos; the per-image mode optimises a U-Net for each held-out photo
(:class:`~clipstyler_fast.train.per_image.PerImageOptimizer`, what ``optimize`` runs, with the
published weights and schedule, patches scaled to the world's photos); and again starting from
the fast mode's network (``--model.init_from``). The judge compares all three on the same
photos; the loss curves say after how many steps the started run reaches the from-scratch run's
final loss.

    python -m benchmarks.fidelity.per_image --workdir P --clip world-clip.pt --vgg W/vgg19-world.pth \\
        --decoder W/start-decoder.pt --styles stripes,dots,red
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import judge, run, world  # noqa: E402

SMOOTHING = 10


def optimise_photos(
    setup: run.Setup, style: str, photos: torch.Tensor, steps: int, patches: int, patch: int, start: Path | None
) -> tuple[torch.Tensor, list[list[float]]]:
    """Each photo optimised alone; returns the outputs and each photo's total-loss curve."""
    from lightning.fabric import Fabric

    from clipstyler_fast.infer.any_prompt import load_style
    from clipstyler_fast.infer.network import load_network
    from clipstyler_fast.nets.clip_model import load_clip
    from clipstyler_fast.nets.vgg import load_content_layers
    from clipstyler_fast.objective import losses
    from clipstyler_fast.objective.per_image import PerImageWeights
    from clipstyler_fast.train.per_image import PerImageOptimizer, PerImageSchedule

    clip = load_clip(setup.clip)
    direction = losses.text_direction(clip.encode_text, world.PROMPTS[style], world.SOURCE_TEXT)
    network = load_network(load_style(start)) if start is not None else None
    optimizer = PerImageOptimizer(
        Fabric(accelerator="cpu", devices=1),
        clip,
        load_content_layers(setup.vgg),
        direction,
        PerImageWeights(num_patches=patches, patch_size=patch),
        PerImageSchedule(steps=steps),
        network,
    )
    outputs, curves = [], []
    for index, photo in enumerate(photos):
        curve: list[float] = []
        output = optimizer.optimize(photo[None], seed=index, on_step=lambda step, terms, out, curve=curve: curve.append(terms["total"]))
        outputs.append(output.clamp(0, 1)[0])
        curves.append(curve)
    return torch.stack(outputs), curves


def steps_to_reach(curve: list[float], target: float) -> int | None:
    """First step (1-based) at which the curve's running mean over :data:`SMOOTHING` steps is at most ``target``."""
    for end in range(1, len(curve) + 1):
        window = curve[max(0, end - SMOOTHING) : end]
        if sum(window) / len(window) <= target:
            return end
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--styles", default="stripes,dots,red")
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--vgg", type=Path, required=True, help="the world VGG-19 (world_vgg.py writes layers up to relu5_2)")
    parser.add_argument("--decoder", type=Path, required=True)
    parser.add_argument("--fast-steps", type=int, default=200, help="fit steps of the fast mode (the reference's 200)")
    parser.add_argument("--steps", type=int, default=200, help="per-image steps (the published 200)")
    parser.add_argument("--photos", type=int, default=6, help="held-out photos optimised per style")
    parser.add_argument("--patches", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=24, help="patch side: the published 128 of 512, a quarter of the photo")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true")
    return parser


def compare_style(
    setup: run.Setup, style: str, content: torch.Tensor, baseline: torch.Tensor, args: argparse.Namespace
) -> tuple[dict[str, Any], list[int | None]]:
    """The three modes on one style, judged on the same photos; and, per photo, the steps the
    started run needs to reach the from-scratch run's final loss."""
    fast = run.train_and_predict(setup, style, args.fast_steps)
    style_file = run._checkpoint_of(list((setup.workdir / "checkpoints").glob("*/style.ckpt")), world.PROMPTS[style])
    scratch_out, scratch_curves = optimise_photos(setup, style, content, args.steps, args.patches, args.patch_size, None)
    started_out, started_curves = optimise_photos(setup, style, content, args.steps, args.patches, args.patch_size, style_file)
    table = judge.shifts({style: fast, f"{style}:per-image": scratch_out, f"{style}:from-style": started_out}, content, baseline)
    reached = []
    for scratch_curve, started_curve in zip(scratch_curves, started_curves, strict=True):
        target = sum(scratch_curve[-SMOOTHING:]) / len(scratch_curve[-SMOOTHING:])
        reached.append(steps_to_reach(started_curve, target))
    return table, reached


def style_rows(style: str, table: dict[str, Any], reached: list[int | None], steps: int) -> list[str]:
    """The table's rows of one style: one per mode, then the steps the trained style saves."""
    rows = []
    for name, label in (
        (style, "fast (fit + predict)"),
        (f"{style}:per-image", "per-image"),
        (f"{style}:from-style", "per-image from the style"),
    ):
        row = table[name]
        rows.append(
            f"| {style} | {label} | {row['vs_content']:+.2f} | {row['vs_decoder']:+.2f} | {row['ssim']:.3f} | {row['edges']:.3f} | {judge.flag_words(row)} |"
        )
    done = [r for r in reached if r is not None]
    median = sorted(done)[len(done) // 2] if done else None
    rows.append(
        f"| {style} | steps the started run needs to reach the from-scratch final loss | "
        f"{'median ' + str(median) + f' of {steps + 1}' if median else 'not reached'} ({len(done)}/{len(reached)} photos) | | | | |"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.smoke:
        args.fast_steps, args.steps, args.photos, args.patches = 1, 2, 1, 2
    styles = run.parse_styles(parser, args.styles)
    rows, data = [], {}
    with tempfile.TemporaryDirectory(prefix="per-image-") as scratch:
        workdir = (args.workdir or Path(scratch)).resolve()
        setup = run.prepare(workdir, args.clip, args.vgg, args.decoder, 0, 0, 24, args.photos, 96)
        content = run.heldout(setup)
        baseline = run.decoder_only(setup, content)
        for style in styles:
            begin = time.time()
            table, reached = compare_style(setup, style, content, baseline, args)
            data[style] = {"judge": table, "reached": reached, "seconds": time.time() - begin}
            rows += style_rows(style, table, reached, args.steps)
    print(
        f"fast: {args.fast_steps} fit steps; per-image: {args.steps} steps, {args.patches} patches of {args.patch_size} px, "
        f"published weights; {args.photos} held-out photos of 96 px\n"
    )
    print("| style | mode | shift vs content | vs decoder only | SSIM to content | edges kept | flags |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    print("\n".join(rows))
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
