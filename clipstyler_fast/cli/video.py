"""``clipstyler-fast video``: stylize a video file frame by frame."""

from __future__ import annotations

import argparse

from clipstyler_fast.cli import options, values

VIDEO_INSTALL_HINT = 'pip install "clipstyler-fast[video]"'


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "video",
        "Stylize a video frame by frame with a style checkpoint. Keeps the size and every frame's "
        "timestamp (so the frame rate), copies the audio track without re-encoding, and writes the "
        f"output atomically. Needs PyAV: {VIDEO_INSTALL_HINT}.",
        [
            "clipstyler-fast video --data.path clip.mp4 --output clip_mosaic.mp4 --ckpt_path checkpoints/mosaic/style.ckpt",
            'clipstyler-fast video --data.path clip.mp4 --output clip_ink.mp4 --ckpt_path checkpoints/any-prompt/style.ckpt --prompt "ink wash"',
        ],
    )
    options.add_checkpoint(parser)
    options.add_prompt(parser)
    options.add_data_path(parser, "video to stylize (any format FFmpeg reads)")
    options.add_output_file(parser, "stylized video to write (.mp4, .mkv, .mov, ...)")
    parser.add_argument(
        "--data.batch_size", dest="batch_size", type=values.POSITIVE, default=8, help="frames stylized together (default 8)"
    )
    parser.add_argument("--codec", default="libx264", help="video encoder (default libx264; e.g. mpeg4, libvpx-vp9)")
    parser.add_argument("--crf", type=values.NON_NEGATIVE, default=18, help="x264/x265 quality, lower is better (default 18)")
    options.add_flag(parser, "--audio", True, "copy the audio track")
    options.add_postprocess(
        parser, help="clamp to [0, 1] (default), or the reference's contrast boost with per-frame min-max scaling (may flicker)"
    )
    parser.add_argument(
        "--strength",
        type=values.STRENGTH,
        default=1.0,
        help="how much of the style, in [0, 1]: 0 gives the frame unchanged, 1 the full style (default)",
    )
    options.add_flag(parser, "--preserve_colors", False, "keep the frame's colours: the style's luminance with the frame's chroma (YCbCr)")
    parser.add_argument(
        "--temporal_blend",
        type=values.number(0, 0.9, give="give a weight in [0, 0.9]; 0 stylizes every frame on its own"),
        default=0.0,
        help="blend each stylized frame with the previous output frame, moved by the picture's global motion "
        "(phase correlation), with this weight where that motion explains the frame: less flicker on pans "
        "and still shots (default 0: every frame on its own)",
    )
    options.add_vgg_weights(parser)
    options.add_device(parser, progress=True)
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast video``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.infer.stylizer import Stylizer
    from clipstyler_fast.infer.video import probe_video, stylize_video

    probe_video(args.data_path)
    stylizer = Stylizer.from_checkpoint(
        args.ckpt_path,
        args.vgg_weights,
        options.resolve(args),
        args.postprocess,
        prompt=args.prompt,
        clip_model=args.clip_model,
        strength=args.strength,
        preserve_colors=args.preserve_colors,
    )
    path = stylize_video(
        stylizer, args.data_path, args.output, args.batch_size, args.codec, args.crf, args.audio, args.progress, args.temporal_blend
    )
    print(f"wrote {path}")
    return 0
