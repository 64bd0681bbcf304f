"""``clipstyler-fast predict --strip_with B.ckpt``: each input rendered at several blends of two styles.

For every input image, one PNG lays the image stylized with the blend ``(1 - alpha) * A + alpha
* B`` side by side for each alpha (A is ``--ckpt_path``), as the reference's interpolation test
does. Meant for choosing an alpha on a few images; ``clipstyler-fast interpolate`` then writes
the chosen blend as a checkpoint for ``predict``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clipstyler_fast.errors import ImageReadError
from clipstyler_fast.infer.blend import DEFAULT_ALPHAS, render_strip
from clipstyler_fast.infer.predict.writer import check_output_folder, save_atomic
from clipstyler_fast.io.images import list_images, open_image


def wants_strip(argv: list[str]) -> bool:
    """Whether ``predict`` was asked for strips."""
    return any(arg == "--strip_with" or arg.startswith("--strip_with=") for arg in argv)


def _alphas(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas, e.g. 0,0.25,0.5,0.75,1") from None


def main(argv: list[str]) -> int:
    """Run the strip mode of ``predict``; 0 when every image got its strip, 1 when some failed."""
    parser = argparse.ArgumentParser(
        prog="clipstyler-fast predict --strip_with",
        description="Render each input image at several blends of two style checkpoints, side by side.",
    )
    parser.add_argument("--ckpt_path", required=True, help="style A (alpha 0)")
    parser.add_argument("--strip_with", required=True, help="style B (alpha 1)")
    parser.add_argument("--alphas", type=_alphas, default=list(DEFAULT_ALPHAS), help="blend factors, default 0,0.25,0.5,0.75,1")
    parser.add_argument("--data.path", dest="inputs", nargs="+", required=True, help="image files or folders")
    parser.add_argument("--output.dir", dest="output_dir", required=True, help="where <name>.strip.png files go")
    parser.add_argument("--output.overwrite", dest="overwrite", choices=("true", "false"), default="false")
    parser.add_argument("--model.vgg_weights", dest="vgg_weights", default=None, help="local VGG-19 file instead of the recorded source")
    parser.add_argument("--postprocess", choices=("clamp", "contrast"), default="clamp")
    parser.add_argument("--include_content", action="store_true", help="put the input image first")
    args = parser.parse_args(argv)
    output = Path(args.output_dir).expanduser()
    roots = [Path(given).expanduser() for given in args.inputs]
    check_output_folder(output, roots)
    written = skipped = 0
    failures: list[str] = []
    for root in roots:
        for path in list_images(root):
            relative = path.relative_to(root) if root.is_dir() else Path(path.name)
            target = output / relative.parent / f"{relative.name}.strip.png"
            if target.exists() and args.overwrite == "false":
                skipped += 1
                continue
            try:
                strip = render_strip(
                    args.ckpt_path, args.strip_with, open_image(path), args.alphas, vgg_weights=args.vgg_weights,
                    mode=args.postprocess, include_content=args.include_content,
                )
            except ImageReadError as error:
                failures.append(str(error))
                print(f"failed: {error}", file=sys.stderr)
                continue
            save_atomic(strip, target)
            written += 1
    print(f"predict: {written} strips written, {skipped} skipped (already existed), {len(failures)} failed -> {output}")
    return 1 if failures else 0
