"""Does a stylized video flicker? The warping error of clips whose motion is known exactly.

Each clip is cut from a photo rendered at 4x the frame resolution and box-filtered down, as a
camera's sensor averages light, so that every frame samples the same picture the same way:

- ``pan 0.5``, ``pan 1``, ``pan 2``: the frame moves right by 0.5, 1 or 2 pixels a frame;
- ``zoom``: a slow zoom in about the centre (1% a frame);
- ``still``: the same frame with fresh Gaussian sensor noise every frame.

Sources: photos of the synthetic world (``benchmarks/fidelity/world.py``, seeds no run trained on)
and the bundled samples (``data/samples``). The warping error of a clip is the mean over its frame
pairs of ``|F_{t+1} - W_t F_t|`` over the pixels ``F_{t+1}`` shares with ``F_t``
(:func:`clipstyler_fast.eval.temporal.warping_errors`, ``W_t`` the true motion), in percent of the
pixel range; the content clip's own error is the floor that interpolation and noise leave. Every
style is run frame by frame, then with the previous-frame blend of ``video --temporal_blend``
(motion estimated as ``video`` does, and with the true motion). The judge's statistic of the
style named by ``--judge`` (``benchmarks/fidelity/judge.py``, never CLIP), over all frames, shows
that the styles compared are equally strong.

    python benchmarks/bench_video.py --style plain=W/ref/checkpoints/stripes/style.ckpt \\
        --style consistency=C/checkpoints/stripes/style.ckpt --vgg W/vgg19-world.pth --judge stripes
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import center_crop, pil_to_tensor, resize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fidelity import judge, world  # noqa: E402
from clipstyler_fast.eval.temporal import warping_errors  # noqa: E402
from clipstyler_fast.infer.stylizer import Stylizer  # noqa: E402
from clipstyler_fast.infer.temporal import PreviousFrameBlend  # noqa: E402
from clipstyler_fast.io.images import IMAGE_SUFFIXES, open_image  # noqa: E402
from clipstyler_fast.objective.consistency import affine_matrices, translation_matrices, warp  # noqa: E402

FACTOR = 4  # sensor supersampling: frames are box-filtered from photos at this many times their resolution
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
Clip = tuple[torch.Tensor, torch.Tensor]  # frames (T, 3, H, W), motions (T - 1, 2, 3)


def sources(world_photos: int, samples: Path | None, size: int, seed: int = 300) -> torch.Tensor:
    """Photos ``(N, 3, S, S)`` at ``FACTOR`` times ``size`` plus a margin for the motion."""
    side = FACTOR * (size + size // 3)
    photos = [world.photos(world_photos, side, torch.Generator().manual_seed(seed))] if world_photos else []
    paths = sorted(p for p in samples.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if samples else []
    for path in paths:
        image = pil_to_tensor(open_image(path)).float() / 255
        photos.append(center_crop(resize(image, [side], antialias=True), [side])[None])
    return torch.cat(photos).clamp(0, 1)


def _down(hr: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(hr, FACTOR)


def pan(photo: torch.Tensor, speed: float, frames: int, size: int) -> Clip:
    """The frame moves right by ``speed`` px a frame (``FACTOR * speed`` must be whole): the picture moves left."""
    step, window = round(FACTOR * speed), FACTOR * size
    clip = torch.cat([_down(photo[None, :, :window, step * t : step * t + window]) for t in range(frames)])
    return clip, translation_matrices(torch.tensor([[-step / FACTOR, 0.0]]).expand(frames - 1, 2))


def zoom(photo: torch.Tensor, rate: float, frames: int, size: int) -> Clip:
    """A zoom in about the centre by ``rate`` a frame."""
    side, window = photo.shape[-1], FACTOR * size
    scales = torch.tensor([rate**t for t in range(frames)])
    hr = warp(photo[None].expand(frames, -1, -1, -1), affine_matrices(torch.zeros(frames, 2), torch.zeros(frames), scales, side, side))
    clip = _down(center_crop(hr, [window]))
    return clip, affine_matrices(torch.zeros(frames - 1, 2), torch.zeros(frames - 1), torch.full((frames - 1,), rate), size, size)


def still(photo: torch.Tensor, noise: float, frames: int, size: int, generator: torch.Generator) -> Clip:
    """One frame, with fresh sensor noise of standard deviation ``noise`` every frame."""
    frame = _down(center_crop(photo[None], [FACTOR * size]))
    clip = (frame + noise * torch.randn(frames, *frame.shape[1:], generator=generator)).clamp(0, 1)
    return clip, translation_matrices(torch.zeros(frames - 1, 2))


def clips(photos: torch.Tensor, frames: int, size: int, noise: float) -> dict[str, list[Clip]]:
    generator = torch.Generator().manual_seed(0)
    return {
        "pan 0.5 px/frame": [pan(p, 0.5, frames, size) for p in photos],
        "pan 1 px/frame": [pan(p, 1, frames, size) for p in photos],
        "pan 2 px/frame": [pan(p, 2, frames, size) for p in photos],
        "zoom 1%/frame": [zoom(p, 1.01, frames, size) for p in photos],
        f"still, noise {noise:g}": [still(p, noise, frames, size, generator) for p in photos],
    }


@torch.no_grad()
def stylized(stylizer: Stylizer, frames: torch.Tensor) -> torch.Tensor:
    return stylizer.run_network(frames).clamp(0, 1)


def blended(frames: torch.Tensor, styled: torch.Tensor, weight: float, motions: torch.Tensor | None) -> torch.Tensor:
    """``video --temporal_blend weight`` on a clip: the motion estimated, or the ``motions`` given."""
    blend = PreviousFrameBlend(weight)
    steps = [None, *motions] if motions is not None else [None] * len(frames)
    return torch.stack([blend.step(f, s, m) for f, s, m in zip(frames, styled, steps)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", action="append", required=True, help="NAME=PATH of a style.ckpt or student.ckpt (repeatable)")
    parser.add_argument("--vgg", default=None, help="a local copy of the VGG weights the styles record")
    parser.add_argument("--world", type=int, default=4, help="world photos to cut clips from (default 4)")
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="a folder of photos to cut clips from too (default data/samples)")
    parser.add_argument("--no-samples", dest="samples", action="store_const", const=None)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", type=int, default=96, help="frame side, a multiple of 8 (default 96)")
    parser.add_argument("--noise", type=float, default=0.02, help="sensor noise of the still shot (default 0.02)")
    parser.add_argument("--blend", type=float, default=0.5, help="the --temporal_blend weight compared (default 0.5)")
    parser.add_argument("--judge", default="stripes", choices=world.STYLES, help="the style whose statistic is reported")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.size % 8 or args.frames < 2:
        parser.error("--size must be a multiple of 8 and --frames at least 2")
    if args.threads:
        torch.set_num_threads(args.threads)
    styles = dict(item.split("=", 1) for item in args.style)
    photos = sources(args.world, args.samples, args.size)
    data = clips(photos, args.frames, args.size, args.noise)
    content = torch.cat([c for clip_list in data.values() for c, _ in clip_list])
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    print(f"{len(photos)} photos ({args.world} world, {len(photos) - args.world} samples), {args.frames} frames of {args.size} px a clip\n")
    columns: dict[str, dict[str, float]] = {"content": {}}
    strength: dict[str, float] = {"content": float(judge.statistics(content, content)[args.judge].mean())}
    for name, path in styles.items():
        stylizer = Stylizer.from_checkpoint(path, vgg_weights=args.vgg, precision="32-true")
        kinds = {name: {}, f"{name} + blend {args.blend:g}": {}, f"{name} + blend {args.blend:g}, true motion": {}}
        shown: dict[str, list[torch.Tensor]] = {kind: [] for kind in kinds}
        for clip_name, clip_list in data.items():
            errors: dict[str, list[float]] = {kind: [] for kind in kinds}
            for frames, motions in clip_list:
                styled = stylized(stylizer, frames)
                outs = [styled, blended(frames, styled, args.blend, None), blended(frames, styled, args.blend, motions)]
                for kind, out in zip(kinds, outs):
                    errors[kind].append(float(warping_errors(out, motions).mean()))
                    shown[kind].append(out)
            for kind in kinds:
                kinds[kind][clip_name] = sum(errors[kind]) / len(errors[kind])
        columns.update(kinds)
        for kind in kinds:
            strength[kind] = float(judge.statistics(torch.cat(shown[kind]), content)[args.judge].mean())
    # The content column: the mean over the clips' photos.
    columns["content"] = {k: sum(float(warping_errors(f, m).mean()) for f, m in v) / len(v) for k, v in data.items()}
    names = list(columns)
    print("Warping error (% of the pixel range; lower flickers less)\n")
    print("| clip | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names))
    for clip_name in data:
        print(f"| {clip_name} | " + " | ".join(f"{100 * columns[n][clip_name]:.2f}" for n in names) + " |")
    print(f"| judge's {args.judge} statistic, all frames | " + " | ".join(f"{strength[n]:.3f}" for n in names) + " |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"warping_error": columns, "judge": strength, "args": vars(args) | {"samples": str(args.samples)}}, indent=1, default=str
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
