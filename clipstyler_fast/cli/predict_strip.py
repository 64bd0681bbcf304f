"""The strip mode of ``predict`` (``--strip_with B.ckpt``): each input rendered at several blends of two styles.

For every input image, one PNG lays the image stylized with the blend ``(1 - alpha) * A + alpha
* B`` side by side for each alpha (A is ``--ckpt_path``), as the reference's interpolation test
does. Meant for choosing an alpha on a few images; ``clipstyler-fast interpolate`` then writes
the chosen blend as a checkpoint for ``predict``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from clipstyler_fast.errors import ImageReadError
from clipstyler_fast.infer.blend import render_strip
from clipstyler_fast.infer.predict.writer import save_atomic
from clipstyler_fast.io.images import list_images, open_image, resize_long_side, to_tensors


def run_strips(
    checkpoint_a: str,
    checkpoint_b: str,
    roots: list[Path],
    output: Path,
    alphas: list[float],
    *,
    overwrite: bool = False,
    vgg_weights: str | None = None,
    postprocess: str = "clamp",
    include_content: bool = False,
    device: Any = None,
    long_side: int | None = None,
) -> int:
    """Write ``<name>.strip.png`` per input image under ``output``; 0 when every image got its strip, 1 when some failed.

    ``long_side`` resizes each image first, as ``--size`` does for stylized images."""
    written = skipped = 0
    failures: list[str] = []
    for root in roots:
        for path in list_images(root):
            relative = path.relative_to(root) if root.is_dir() else Path(path.name)
            target = output / relative.parent / f"{relative.name}.strip.png"
            if target.exists() and not overwrite:
                skipped += 1
                continue
            try:
                strip = render_strip(
                    checkpoint_a,
                    checkpoint_b,
                    resize_long_side(to_tensors(open_image(path))[0], long_side),
                    alphas,
                    vgg_weights=vgg_weights,
                    device=device,
                    mode=postprocess,
                    include_content=include_content,
                )
            except ImageReadError as error:
                failures.append(str(error))
                print(f"failed: {error}", file=sys.stderr)
                continue
            save_atomic(strip, target)
            written += 1
    print(f"predict: {written} strips written, {skipped} skipped (already existed), {len(failures)} failed -> {output}")
    return 1 if failures else 0
