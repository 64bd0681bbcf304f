"""``clipstyler-fast interpolate``: blend two style checkpoints, or render strips of blends."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clipstyler_fast.cli import options, values


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "interpolate",
        "Blend two style checkpoints by interpolating their decoder weights: (1 - alpha) * A + alpha * B. "
        "Both must be trained on the same VGG weights and CLIP model. Writes a new style checkpoint, "
        "or with --strip renders an image, or every image in a folder, at several alphas side by side. With one any-prompt checkpoint and "
        "--prompts A B, blends the two prompts' text directions instead: normalize((1 - alpha) dA + alpha dB).",
        [
            'clipstyler-fast interpolate checkpoints/any-prompt/style.ckpt --prompts "mosaic" "a pencil sketch" --alpha 0.3 --output blend.ckpt',
            "clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --alpha 0.5 --output blend.ckpt",
            "clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --strip photo.jpg --alphas 0,0.25,0.5,0.75,1 --output strip.png",
            "clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --strip photos/ --output strips/",
        ],
    )
    parser.add_argument("checkpoint_a", help="style checkpoint at alpha 0 (or the any-prompt checkpoint, with --prompts)")
    parser.add_argument("checkpoint_b", nargs="?", help="style checkpoint at alpha 1 (not with --prompts)")
    parser.add_argument("--prompts", nargs=2, metavar=("A", "B"), help="with an any-prompt checkpoint: the prompts at alpha 0 and 1")
    parser.add_argument("--model.clip_model", dest="clip_model", help=options.CLIP_MODEL_HELP)
    options.add_output_file(
        parser, "checkpoint to write (.ckpt); with --strip, the PNG strip of an image, or the folder of a folder's strips"
    )
    parser.add_argument("--alpha", type=values.UNIT, default=0.5, help="weight of B in the new checkpoint, in [0, 1] (default 0.5)")
    parser.add_argument(
        "--strip",
        metavar="PATH",
        help="render this image, or every image in this folder (and its sub-folders, each as <name>.strip.png), "
        "at each of --alphas side by side, instead of writing a checkpoint",
    )
    parser.add_argument("--alphas", type=values.ALPHAS, default=list(options.DEFAULT_ALPHAS), help=options.ALPHAS_HELP + ", with --strip")
    options.add_flag(parser, "--include_content", False, "put the input image first in the strip")
    options.add_size(parser, "shrink the strip image so its longer side is at most this (default: full size)")
    options.add_postprocess(parser)
    options.add_vgg_weights(parser)
    options.add_device(parser)
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast interpolate``; returns the exit status (1 when some images of a folder failed)."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.errors import InterpolationError
    from clipstyler_fast.infer.blend import check_alpha, interpolate_checkpoints

    if args.prompts:
        return _blend_prompts(args)
    if args.checkpoint_b is None:
        raise InterpolationError(
            "a second checkpoint is needed; pass two style checkpoints, or an any-prompt checkpoint with --prompts A B"
        )
    if args.strip:
        return _strips(args)
    if Path(args.output).suffix.lower() in (".png", ".jpg", ".jpeg"):
        raise InterpolationError(f"{args.output}: an image name, but no --strip IMAGE was given; pass --strip or a .ckpt output")
    path = interpolate_checkpoints(args.checkpoint_a, args.checkpoint_b, check_alpha(args.alpha), args.output)
    print(f"wrote {path} (alpha {args.alpha:g}: {1 - args.alpha:g} x {args.checkpoint_a} + {args.alpha:g} x {args.checkpoint_b})")
    return 0


def _strips(args: argparse.Namespace) -> int:
    """``--strip PATH``: one PNG strip for an image, or one per image of a folder (a failed image is
    listed and the others go on)."""
    from clipstyler_fast.errors import DataError, ImageReadError
    from clipstyler_fast.infer.blend import StyleBlend, save_png_atomic
    from clipstyler_fast.infer.predict.writer import check_output_folder
    from clipstyler_fast.io.images import list_images, read_rgb, resize_long_side

    source, output = Path(args.strip).expanduser(), Path(args.output).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such image or folder; pass an image or a folder of images to --strip")
    if source.is_dir():
        check_output_folder(output, [source])
        targets = {path: output / f"{path.relative_to(source)}.strip.png" for path in list_images(source)}
    else:
        targets = {source: output}
    blend = StyleBlend(args.checkpoint_a, args.checkpoint_b)
    stylizer = blend.stylizer(args.vgg_weights, options.resolve(args), args.postprocess)
    failed = 0
    for path, target in targets.items():
        try:
            image = resize_long_side(read_rgb(path), args.size, shrink_only=True)
        except ImageReadError as error:
            if not source.is_dir():
                raise  # the one image asked for: an error, not a listed failure
            failed += 1
            print(f"failed: {error}", file=sys.stderr)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        save_png_atomic(blend.strip(stylizer, image, args.alphas, args.include_content), target)
    alphas = f"{len(args.alphas)} alphas: {', '.join(f'{a:g}' for a in args.alphas)}"
    if source.is_dir():
        print(f"interpolate: {len(targets) - failed} strips written, {failed} failed ({alphas}) -> {output}")
    else:
        print(f"wrote {output} ({alphas})")
    return 1 if failed else 0


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
