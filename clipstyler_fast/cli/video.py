"""``clipstyler-fast video``: stylize a video file frame by frame."""

from __future__ import annotations

import argparse
import textwrap

from clipstyler_fast.infer.device import resolve_device
from clipstyler_fast.infer.export import INSTALL_HINT
from clipstyler_fast.infer.stylizer import POSTPROCESS, Stylizer
from clipstyler_fast.infer.video import probe_video, stylize_video


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipstyler-fast video",
        description=textwrap.fill(
            "Stylize a video frame by frame with a style checkpoint. Keeps the size and every frame's "
            "timestamp (so the frame rate), copies the audio track without re-encoding, and writes the "
            f"output atomically. Needs PyAV: {INSTALL_HINT}."
        ),
        epilog="example:\n  clipstyler-fast video clip.mp4 clip_mosaic.mp4 --ckpt_path checkpoints/mosaic/style.ckpt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="video to stylize (any format FFmpeg reads)")
    parser.add_argument("output", help="stylized video to write (.mp4, .mkv, .mov, ...)")
    parser.add_argument("--ckpt_path", required=True, help="style checkpoint (style.ckpt)")
    parser.add_argument("--batch_size", type=int, default=8, help="frames stylized together (default 8)")
    parser.add_argument("--codec", default="libx264", help="video encoder (default libx264; e.g. mpeg4, libvpx-vp9)")
    parser.add_argument("--crf", type=int, default=18, help="x264/x265 quality, lower is better (default 18)")
    parser.add_argument("--audio", action=argparse.BooleanOptionalAction, default=True, help="copy the audio track (default on)")
    parser.add_argument(
        "--postprocess", choices=POSTPROCESS, default="clamp",
        help="clamp to [0, 1] (default), or the reference's contrast boost with per-frame min-max scaling (may flicker)",
    )
    parser.add_argument("--vgg_weights", help="local copy of the encoder weights the checkpoint was trained on, instead of the source it records (offline machines)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar (default on)")
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast video``; returns the exit status."""
    args = build_parser().parse_args(argv)
    probe_video(args.input)
    stylizer = Stylizer.from_checkpoint(args.ckpt_path, args.vgg_weights, resolve_device(args.device), args.postprocess)
    path = stylize_video(stylizer, args.input, args.output, args.batch_size, args.codec, args.crf, args.audio, args.progress)
    print(f"wrote {path}")
    return 0
