"""``clipstyler-fast evaluate``: quality metrics of stylized images against their contents."""

from __future__ import annotations

import argparse
import sys

from clipstyler_fast.cli import options, values


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "evaluate",
        "Quality metrics of stylized images: CLIP directional similarity (how far each image moved "
        "along the prompt's text direction, -1..1, higher is more stylized), for the whole image and "
        "averaged over random patches, and SSIM against the content (-1..1, higher keeps more "
        "structure). A style was trained to please its CLIP, which can be fooled; --judge_clip scores "
        "with a second CLIP as well. Stylizes --data.path with --ckpt_path, or scores the existing "
        "outputs in --stylized_dir (matched by relative path and file stem).",
        [
            "clipstyler-fast evaluate --ckpt_path checkpoints/mosaic/style.ckpt --data.path photos/ --output metrics.csv",
            "clipstyler-fast evaluate --ckpt_path checkpoints/mosaic/style.ckpt --data.path photos/ --stylized_dir stylized/",
            'clipstyler-fast evaluate --model.prompt "a mosaic" --data.path photos/ --stylized_dir stylized/ --model.clip_model ViT-B/32',
        ],
    )
    options.add_checkpoint(
        parser, required=False, help="style checkpoint: stylizes the contents with it, and gives the prompt and CLIP model"
    )
    options.add_data_path(parser, "content image or folder (searched recursively)")
    parser.add_argument("--stylized_dir", help="score these existing stylized images instead of stylizing")
    options.add_output_file(parser, "write the per-image scores to this CSV file", required=False)
    parser.add_argument(
        "--model.prompt",
        "--prompt",
        dest="prompt",
        help="style prompt to score against (default: the checkpoint's); with an any-prompt checkpoint, the style to stylize with",
    )
    parser.add_argument(
        "--model.source_text", dest="source_text", help="source text of the direction (default: the checkpoint's, else 'a Photo')"
    )
    parser.add_argument(
        "--model.clip_model",
        dest="clip_model",
        help=f"CLIP model name or local file (default: the checkpoint's, else {options.DEFAULT_CLIP})",
    )
    parser.add_argument(
        "--model.clip_download_root", dest="clip_download_root", help="folder for downloaded CLIP files (default ~/.cache/clip)"
    )
    parser.add_argument(
        "--judge_clip",
        metavar="NAME_OR_FILE",
        help="also score with this CLIP model (name or local file), one the style was not trained against: "
        "judge_direction and judge_patch_direction",
    )
    parser.add_argument(
        "--patches", type=values.POSITIVE, default=16, help="random patches per image for the patch-level scores (default 16)"
    )
    options.add_vgg_weights(parser)
    options.add_postprocess(parser, help="post-processing of the stylized images (default clamp)")
    options.add_size(parser, "shrink images so their longer side is at most this before scoring (default: full size)")
    options.add_device(parser, progress=True)
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast evaluate``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.errors import EvaluationError

    if args.ckpt_path is None and args.stylized_dir is None:
        raise EvaluationError("nothing to evaluate; pass --ckpt_path to stylize the contents, or --stylized_dir with existing outputs")
    if args.ckpt_path is None and args.prompt is None:
        raise EvaluationError('without --ckpt_path the prompt is unknown; pass --model.prompt "..."')
    from clipstyler_fast.eval.evaluate import evaluate, style_direction, summary_table, write_csv
    from clipstyler_fast.infer.any_prompt import is_any_prompt, load_style
    from clipstyler_fast.infer.stylizer import Stylizer
    from clipstyler_fast.nets.clip_model import load_clip

    device = options.resolve(args)
    prompt = args.prompt if args.ckpt_path is not None and is_any_prompt(args.ckpt_path) else None
    style = load_style(args.ckpt_path, prompt, args.clip_model) if args.ckpt_path is not None else None
    record = style.record if style is not None else None
    hparams = style.hyper_parameters if style is not None else {}
    stylizer = None
    if args.stylized_dir is None:
        stylizer = Stylizer.from_checkpoint(
            args.ckpt_path, args.vgg_weights, device, args.postprocess, prompt=prompt, clip_model=args.clip_model
        )
    clip_source = args.clip_model or (record.clip_model if record is not None else "") or options.DEFAULT_CLIP
    clip = load_clip(clip_source, args.clip_download_root or hparams.get("clip_download_root"))
    direction = style_direction(clip, record, args.prompt, args.source_text)
    judge = None
    if args.judge_clip:
        judge_clip = load_clip(args.judge_clip, args.clip_download_root)
        judge = (judge_clip, style_direction(judge_clip, record, args.prompt, args.source_text))
    results, means = evaluate(
        args.data_path, clip, direction, stylizer, args.stylized_dir, device, args.size, args.progress, judge, args.patches
    )
    for reason in results.skipped:
        print(f"warning: skipped {reason}", file=sys.stderr)
    print(summary_table(results, means))
    if args.output:
        print(f"per-image scores: {write_csv(results.rows, args.output)}")
    return 0
