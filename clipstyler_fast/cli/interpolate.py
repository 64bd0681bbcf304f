"""``clipstyler-fast interpolate``: blend two style checkpoints, or render a strip of blends."""

from __future__ import annotations

import argparse
from pathlib import Path

from clipstyler_fast.cli import options, values


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "interpolate",
        "Blend two style checkpoints by interpolating their decoder weights: (1 - alpha) * A + alpha * B. "
        "Both must be trained on the same VGG weights and CLIP model. Writes a new style checkpoint, "
        "or with --strip renders one image at several alphas side by side. With one any-prompt checkpoint and "
        "--prompts A B, blends the two prompts' text directions instead: normalize((1 - alpha) dA + alpha dB).",
        [
            'clipstyler-fast interpolate checkpoints/any-prompt/style.ckpt --prompts "mosaic" "a pencil sketch" --alpha 0.3 --output blend.ckpt',
            "clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --alpha 0.5 --output blend.ckpt",
            "clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --strip photo.jpg --alphas 0,0.25,0.5,0.75,1 --output strip.png",
        ],
    )
    parser.add_argument("checkpoint_a", help="style checkpoint at alpha 0 (or the any-prompt checkpoint, with --prompts)")
    parser.add_argument("checkpoint_b", nargs="?", help="style checkpoint at alpha 1 (not with --prompts)")
    parser.add_argument("--prompts", nargs=2, metavar=("A", "B"), help="with an any-prompt checkpoint: the prompts at alpha 0 and 1")
    parser.add_argument("--model.clip_model", dest="clip_model", help=options.CLIP_MODEL_HELP)
    options.add_output_file(parser, "checkpoint to write (.ckpt), or the PNG strip with --strip")
    parser.add_argument("--alpha", type=values.UNIT, default=0.5, help="weight of B in the new checkpoint, in [0, 1] (default 0.5)")
    parser.add_argument(
        "--strip", metavar="IMAGE", help="render this image at each of --alphas into one PNG instead of writing a checkpoint"
    )
    parser.add_argument("--alphas", type=values.ALPHAS, default=list(options.DEFAULT_ALPHAS), help=options.ALPHAS_HELP + ", with --strip")
    options.add_flag(parser, "--include_content", False, "put the input image first in the strip")
    options.add_size(parser, "shrink the strip image so its longer side is at most this (default: full size)")
    options.add_postprocess(parser)
    options.add_vgg_weights(parser)
    options.add_device(parser)
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast interpolate``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.errors import InterpolationError
    from clipstyler_fast.infer.blend import (
        check_alpha,
        interpolate_checkpoints,
        render_strip,
        save_png_atomic,
    )

    if args.prompts:
        return _blend_prompts(args)
    if args.checkpoint_b is None:
        raise InterpolationError(
            "a second checkpoint is needed; pass two style checkpoints, or an any-prompt checkpoint with --prompts A B"
        )
    if args.strip:
        strip = render_strip(
            args.checkpoint_a,
            args.checkpoint_b,
            args.strip,
            args.alphas,
            vgg_weights=args.vgg_weights,
            device=options.resolve(args),
            mode=args.postprocess,
            include_content=args.include_content,
            max_side=args.size,
        )
        path = save_png_atomic(strip, args.output)
        print(f"wrote {path} ({len(args.alphas)} alphas: {', '.join(f'{a:g}' for a in args.alphas)})")
        return 0
    if Path(args.output).suffix.lower() in (".png", ".jpg", ".jpeg"):
        raise InterpolationError(f"{args.output}: an image name, but no --strip IMAGE was given; pass --strip or a .ckpt output")
    path = interpolate_checkpoints(args.checkpoint_a, args.checkpoint_b, check_alpha(args.alpha), args.output)
    print(f"wrote {path} (alpha {args.alpha:g}: {1 - args.alpha:g} x {args.checkpoint_a} + {args.alpha:g} x {args.checkpoint_b})")
    return 0


def _blend_prompts(args: argparse.Namespace) -> int:
    from clipstyler_fast.errors import InterpolationError
    from clipstyler_fast.infer.any_prompt import blend_prompts
    from clipstyler_fast.infer.blend import check_alpha

    if args.checkpoint_b is not None or args.strip:
        raise InterpolationError("--prompts blends within one any-prompt checkpoint; pass that checkpoint alone, without --strip")
    if Path(args.output).suffix.lower() != ".ckpt":
        raise InterpolationError(f"{args.output}: --prompts writes a style checkpoint; name it .ckpt")
    style = blend_prompts(args.checkpoint_a, *args.prompts, check_alpha(args.alpha), args.clip_model)
    path = style.write(args.output)
    print(f"wrote {path} (alpha {args.alpha:g}: {style.record.prompt})")
    return 0
