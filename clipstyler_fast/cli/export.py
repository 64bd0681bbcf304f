"""``clipstyler-fast export``: write a style's inference network as TorchScript and ONNX."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from clipstyler_fast.infer.export import (
    EXPORT_POSTPROCESS,
    FORMATS,
    INSTALL_HINT,
    MIN_SIDE,
    TOLERANCE,
    export,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipstyler-fast export",
        description=textwrap.fill(
            "Write a style checkpoint's inference network (VGG encoder + decoder + post-processing) as "
            "TorchScript and ONNX. Input: float32 RGB in [0, 1], shape (N, 3, H, W), any N, H and W "
            f"at least {MIN_SIDE} (padded to a multiple of 8 and cropped back inside the model). Both files are run after export and must match "
            f"PyTorch within {TOLERANCE:.0e}. ONNX needs: {INSTALL_HINT}."
        ),
        epilog="example:\n  clipstyler-fast export --ckpt_path checkpoints/mosaic/style.ckpt --output_dir exported/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ckpt_path", required=True, help="style checkpoint (style.ckpt)")
    parser.add_argument("--output_dir", required=True, help="folder for <name>.torchscript.pt, <name>.onnx and <name>.json")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: torchscript, onnx (default both)")
    parser.add_argument("--name", default="stylizer", help="file name stem of the exported files (default stylizer)")
    parser.add_argument("--postprocess", choices=EXPORT_POSTPROCESS, default="clamp", help="clamp (default), contrast, or none (raw network output)")
    parser.add_argument("--opset", type=int, help="ONNX opset version (default: the exporter's)")
    parser.add_argument("--vgg_weights", help="local copy of the encoder weights the checkpoint was trained on, instead of the source it records (offline machines)")
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast export``; returns the exit status."""
    args = build_parser().parse_args(argv)
    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    meta = export(args.ckpt_path, args.output_dir, formats, args.postprocess, args.vgg_weights, args.opset, args.name)
    folder = Path(args.output_dir)
    for fmt, filename in meta["files"].items():
        difference = meta["max_abs_difference_to_pytorch"][fmt]
        print(f"wrote {folder / filename} (max difference to PyTorch {difference:.1e}, tolerance {TOLERANCE:.0e})")
    print(f"wrote {folder / (args.name + '.json')}")
    return 0
