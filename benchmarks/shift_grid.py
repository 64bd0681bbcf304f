"""Which shifts of a photo does a style's output follow? The grid a student must share.

Stylizes each photo and the photo shifted by ``s`` pixels (right and down), and prints the PSNR
between the two outputs where they overlap, away from the borders: high where the network's
output moves with the photo, lower where it draws something else. A style (VGG-19 to relu4_1
and its decoder) follows shifts by whole 8-pixel cells of relu4_1's grid and not shifts by 4;
``nets/student.py`` keeps that grid for this reason.

    python benchmarks/shift_grid.py --ckpt_path checkpoints/mosaic/style.ckpt --data.path photos/
    python benchmarks/shift_grid.py --ckpt_path W/checkpoints/stripes/style.ckpt --vgg W/vgg19-world.pth \\
        --data.path W/content/heldout --shifts 1 2 4 8 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio
from torchvision.transforms.v2.functional import center_crop, pil_to_tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipstyler_fast.infer.stylizer import Stylizer  # noqa: E402
from clipstyler_fast.io.images import IMAGE_SUFFIXES, open_image  # noqa: E402


def shifted_psnr(stylizer: Stylizer, images: torch.Tensor, shift: int, margin: int) -> float:
    """PSNR (dB) between the outputs for ``images`` and for ``images`` shifted by ``shift`` pixels,
    over the overlap less ``margin`` pixels at each border (images: ``(B, 3, H, W)``, sides multiples of 8)."""
    with torch.no_grad():
        whole = stylizer.run_network(images).clamp(0, 1)
        side = (images.shape[-1] - shift) // 8 * 8  # run_network takes sides that are multiples of 8
        moved = stylizer.run_network(images[..., shift : shift + side, shift : shift + side]).clamp(0, 1)
    moved = moved[..., margin:-margin, margin:-margin]
    whole = whole[..., shift + margin :, shift + margin :][..., : moved.shape[-2], : moved.shape[-1]]
    return float(peak_signal_noise_ratio(moved, whole, data_range=1.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", type=Path, required=True, help="a style.ckpt or student.ckpt")
    parser.add_argument("--data.path", dest="data", type=Path, required=True, help="a folder of photos (cropped to a common size)")
    parser.add_argument("--vgg", default=None, help="a local copy of the VGG weights the style records")
    parser.add_argument("--shifts", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--size", type=int, default=96, help="square crop of each photo, a multiple of 8 (default 96)")
    parser.add_argument("--margin", type=int, default=16, help="border pixels left out of the comparison")
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths or args.size % 8:
        parser.error(f"{args.data}: needs images, and --size a multiple of 8")
    images = torch.stack([center_crop(pil_to_tensor(open_image(p)), [args.size]).float() / 255 for p in paths])
    stylizer = Stylizer.from_checkpoint(args.ckpt_path, vgg_weights=args.vgg, precision="32-true")
    print(f"{args.ckpt_path}: output for a shifted photo against the shifted output, {len(paths)} photos of {args.size} px\n")
    print("| shift (px) | PSNR |\n|---:|---:|")
    for shift in args.shifts:
        print(f"| {shift} | {shifted_psnr(stylizer, images, shift, args.margin):.1f} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
