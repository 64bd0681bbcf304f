"""``clipstyler-fast export``: write a style's inference network as TorchScript and ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

from clipstyler_fast.cli import options, values

ONNX_INSTALL_HINT = 'pip install "clipstyler-fast[onnx]"'
EXPORT_MIN_SIDE = 16
EXPORT_TOLERANCE = 1e-3


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "export",
        "Write a style checkpoint's inference network (VGG encoder + decoder + post-processing) as "
        "TorchScript and ONNX. Input: float32 RGB in [0, 1], shape (N, 3, H, W), any N, H and W "
        f"at least {EXPORT_MIN_SIDE} (padded to a multiple of 8 and cropped back inside the model). Both files are run after export and must match "
        f"PyTorch within {EXPORT_TOLERANCE:.0e}. ONNX needs: {ONNX_INSTALL_HINT}.",
        [
            "clipstyler-fast export --ckpt_path checkpoints/mosaic/style.ckpt --output.dir exported/",
            'clipstyler-fast export --ckpt_path checkpoints/any-prompt/style.ckpt --prompt "mosaic" --output.dir exported/',
        ],
    )
    options.add_checkpoint(parser)
    options.add_prompt(parser)
    options.add_output_dir(parser, "folder for <name>.torchscript.pt, <name>.onnx and <name>.json")
    parser.add_argument("--formats", default=",".join(options.EXPORT_FORMATS), help="comma-separated: torchscript, onnx (default both)")
    parser.add_argument("--name", default="stylizer", help="file name stem of the exported files (default stylizer)")
    options.add_postprocess(parser, options.EXPORT_POSTPROCESS, help="clamp (default), contrast, or none (raw network output)")
    parser.add_argument("--opset", type=values.POSITIVE, help="ONNX opset version (default: the exporter's)")
    options.add_vgg_weights(parser)
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast export``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.infer.export import TOLERANCE, export

    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    meta = export(
        args.ckpt_path, args.output_dir, formats, args.postprocess, args.vgg_weights, args.opset, args.name, args.prompt, args.clip_model
    )
    folder = Path(args.output_dir)
    for fmt, filename in meta["files"].items():
        difference = meta["max_abs_difference_to_pytorch"][fmt]
        print(f"wrote {folder / filename} (max difference to PyTorch {difference:.1e}, tolerance {TOLERANCE:.0e})")
    print(f"wrote {folder / (args.name + '.json')}")
    return 0
