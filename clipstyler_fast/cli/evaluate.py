"""``clipstyler-fast evaluate``: quality metrics of stylized images against their contents."""

from __future__ import annotations

import argparse
import sys
import textwrap

from clipstyler_fast.errors import EvaluationError
from clipstyler_fast.eval.evaluate import (
    evaluate,
    style_direction,
    summary_table,
    write_csv,
)
from clipstyler_fast.infer.device import resolve_device
from clipstyler_fast.infer.stylizer import POSTPROCESS, Stylizer
from clipstyler_fast.nets.clip_model import DEFAULT_CLIP, load_clip
from clipstyler_fast.nets.style_file import StyleFile


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipstyler-fast evaluate",
        description=textwrap.fill(
            "Quality metrics of stylized images: CLIP directional similarity (how far each image moved "
            "along the prompt's text direction, -1..1, higher is more stylized) and SSIM against the "
            "content (-1..1, higher keeps more structure). Stylizes --data.path with --ckpt_path, or "
            "scores the existing outputs in --stylized_dir (matched by relative path and file stem)."
        ),
        epilog=(
            "examples:\n"
            "  clipstyler-fast evaluate --ckpt_path checkpoints/mosaic/style.ckpt --data.path photos/ --csv metrics.csv\n"
            "  clipstyler-fast evaluate --ckpt_path checkpoints/mosaic/style.ckpt --data.path photos/ --stylized_dir stylized/\n"
            "  clipstyler-fast evaluate --prompt \"a mosaic\" --data.path photos/ --stylized_dir stylized/ --clip_model ViT-B/32"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ckpt_path", help="style checkpoint: stylizes the contents with it, and gives the prompt and CLIP model")
    parser.add_argument("--data.path", dest="data_path", required=True, help="content image or folder (searched recursively)")
    parser.add_argument("--stylized_dir", help="score these existing stylized images instead of stylizing")
    parser.add_argument("--csv", help="write the per-image scores to this CSV file")
    parser.add_argument("--prompt", help="style prompt to score against (default: the checkpoint's)")
    parser.add_argument("--source_text", help="source text of the direction (default: the checkpoint's, else 'a Photo')")
    parser.add_argument("--clip_model", help=f"CLIP model name or local file (default: the checkpoint's, else {DEFAULT_CLIP})")
    parser.add_argument("--clip_download_root", help="folder for downloaded CLIP files (default ~/.cache/clip)")
    parser.add_argument("--vgg_weights", help="local copy of the encoder weights the checkpoint was trained on, instead of the source it records (offline machines)")
    parser.add_argument("--postprocess", choices=POSTPROCESS, default="clamp", help="post-processing of the stylized images (default clamp)")
    parser.add_argument("--max_side", type=int, help="shrink images so their longer side is at most this before scoring (default: full size)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar (default on)")
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast evaluate``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.ckpt_path is None and args.stylized_dir is None:
        raise EvaluationError("nothing to evaluate; pass --ckpt_path to stylize the contents, or --stylized_dir with existing outputs")
    if args.ckpt_path is None and args.prompt is None:
        raise EvaluationError("without --ckpt_path the prompt is unknown; pass --prompt \"...\"")
    device = resolve_device(args.device)
    style = StyleFile.read(args.ckpt_path).require_style() if args.ckpt_path is not None else None
    record = style.record if style is not None else None
    hparams = style.hyper_parameters if style is not None else {}
    stylizer = None
    if args.stylized_dir is None:
        stylizer = Stylizer.from_checkpoint(args.ckpt_path, args.vgg_weights, device, args.postprocess)
    clip_source = args.clip_model or (record.clip_model if record is not None else "") or DEFAULT_CLIP
    clip = load_clip(clip_source, args.clip_download_root or hparams.get("clip_download_root"))
    direction = style_direction(clip, record, args.prompt, args.source_text)
    results, means = evaluate(args.data_path, clip, direction, stylizer, args.stylized_dir, device, args.max_side, args.progress)
    for reason in results.skipped:
        print(f"warning: skipped {reason}", file=sys.stderr)
    print(summary_table(results, means))
    if args.csv:
        print(f"per-image scores: {write_csv(results.rows, args.csv)}")
    return 0
