#!/usr/bin/env python
"""Per-image step benchmark: the published ``train_CLIPstyler.py`` loop against ``clipstyler-fast optimize``'s step.

Full-size networks with random weights (CLIP ViT-B/32, torchvision's VGG-19 ``features``, the
U-Net of width 16) are written to temporary files. Both contenders optimise the same U-Net start
on the same photo, in the same process, one step each in turn:

* reference: the published loop in plain PyTorch, fp32: VGG's every module run in turn
  (``get_features``), the patch views made one by one with torchvision's ``RandomCrop``,
  ``RandomPerspective`` and ``Resize`` in a Python loop, every CLIP input resized and
  normalised per call, StepLR stepped before Adam.
* product: :class:`~clipstyler_fast.train.per_image.PhotoRun` (what ``optimize`` runs): VGG up
  to relu5_2 only, the views cropped and warped in one batched pass, in the precision asked for.

The full recipe (512 px, 64 patches of 128 px) takes minutes per step on a CPU: CPU runs default
to a smaller photo and fewer patches (``--size``, ``--patches``), the same for both sides.

    python benchmarks/bench_optimize.py                           # CPU: 256 px, 16 patches
    python benchmarks/bench_optimize.py --device cuda --size 512 --patches 64 --steps 20
    python benchmarks/bench_optimize.py --smoke                   # tiny CLIP, seconds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_train import ReferenceLoop  # noqa: E402
from benchmarks.common import TINY_CLIP, VIT_B32, describe_machine, format_table, median, synchronize, write_clip  # noqa: E402

PROMPT, SOURCE = "fire", "a Photo"


class PublishedLoop:
    """``train_CLIPstyler.py``'s loop body, as written there (fp32), one call per iteration."""

    def __init__(self, clip_file: Path, vgg_file: Path, content: torch.Tensor, patches: int, patch: int, device: torch.device) -> None:
        import clip
        from torchvision import transforms
        from torchvision.models.vgg import cfgs, make_layers

        from clipstyler_fast.nets.unet import UNet
        from clipstyler_fast.objective.templates import compose

        self.device, self.patches = device, patches
        self.vgg = make_layers(cfgs["E"]).to(device)
        state = torch.load(vgg_file, map_location=device, weights_only=True)
        self.vgg.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
        self.vgg.requires_grad_(False)
        self.clip_model = clip.load(str(clip_file), device="cpu", jit=False)[0].float().eval().to(device)
        self.clip_model.requires_grad_(False)
        torch.manual_seed(0)
        self.net = UNet().to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=5e-4)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=100, gamma=0.5)
        self.resolution = int(self.clip_model.visual.input_resolution)  # 224 for ViT-B/32, as published
        self.cropper = transforms.RandomCrop(patch)
        self.augment = transforms.Compose(
            [transforms.RandomPerspective(fill=0, p=1, distortion_scale=0.5), transforms.Resize(self.resolution)]
        )
        self.content = content.to(device)
        with torch.no_grad():
            self.content_features = self.features(self.normalize(self.content))
            directions = []
            for text in (PROMPT, SOURCE):
                features = self.clip_model.encode_text(clip.tokenize(compose(text)).to(device)).mean(axis=0, keepdim=True)
                directions.append(features / features.norm(dim=-1, keepdim=True))
            self.text_direction = directions[0] - directions[1]
            source = self.clip_model.encode_image(self.clip_normalize(self.content))
            self.source = source / source.norm(dim=-1, keepdim=True)

    # The published helpers, shared with the fast loop's benchmark (ImageNet and CLIP input normalisation).
    normalize = ReferenceLoop.img_normalize
    clip_normalize = ReferenceLoop.clip_normalize
    normalizes_input = True

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        found, x = {}, image
        for name, layer in self.vgg._modules.items():
            x = layer(x)
            if name in ("21", "31"):
                found[name] = x
        return found

    def step(self) -> float:
        self.scheduler.step()
        target = self.net(self.content)
        target_features = self.features(self.normalize(target))
        content_loss = sum(torch.mean((target_features[k] - self.content_features[k]) ** 2) for k in ("21", "31"))
        crops = torch.cat([self.augment(self.cropper(target)) for _ in range(self.patches)], dim=0)
        image_features = self.clip_model.encode_image(self.clip_normalize(crops))
        image_features = image_features / image_features.clone().norm(dim=-1, keepdim=True)
        img_direction = image_features - self.source
        img_direction = img_direction / img_direction.clone().norm(dim=-1, keepdim=True)
        text_direction = self.text_direction.repeat(image_features.size(0), 1)
        text_direction = text_direction / text_direction.norm(dim=-1, keepdim=True)
        loss_temp = 1 - torch.cosine_similarity(img_direction, text_direction, dim=1)
        loss_temp[loss_temp < 0.7] = 0
        glob = self.clip_model.encode_image(self.clip_normalize(target))
        glob = glob / glob.clone().norm(dim=-1, keepdim=True)
        glob_direction = (glob - self.source) / (glob - self.source).clone().norm(dim=-1, keepdim=True)
        loss_glob = (1 - torch.cosine_similarity(glob_direction, text_direction[:1], dim=1)).mean()
        d = target
        tv = sum(
            torch.norm(a - b)
            for a, b in (
                (d[:, :, :, :-1], d[:, :, :, 1:]),
                (d[:, :, :-1, :], d[:, :, 1:, :]),
                (d[:, :, 1:, :-1], d[:, :, :-1, 1:]),
                (d[:, :, :-1, :-1], d[:, :, 1:, 1:]),
            )
        )
        total = 9000 * loss_temp.mean() + 150 * content_loss + 2e-3 * tv + 500 * loss_glob
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        return float(total.detach())


def product_run(clip_file: Path, vgg_file: Path, content: torch.Tensor, patches: int, patch: int, device: torch.device, precision: str):
    """The product's per-photo run (:meth:`PerImageOptimizer.begin`) on the same photo and U-Net start."""
    from lightning.fabric import Fabric

    from clipstyler_fast.nets.clip_model import load_clip
    from clipstyler_fast.nets.vgg import load_content_layers
    from clipstyler_fast.objective import losses
    from clipstyler_fast.objective.per_image import PerImageWeights
    from clipstyler_fast.train.per_image import PerImageOptimizer

    clip = load_clip(clip_file)
    direction = losses.text_direction(clip.encode_text, PROMPT, SOURCE).to(device)
    fabric = Fabric(accelerator=device.type, devices=1, precision=precision)
    optimizer = PerImageOptimizer(
        fabric, clip, load_content_layers(vgg_file), direction, PerImageWeights(num_patches=patches, patch_size=patch)
    )
    return optimizer.begin(content, seed=0)


def step_flops(run) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        run.step()
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=None, help="photo side (default 512 on GPU, 256 on CPU)")
    parser.add_argument("--patches", type=int, default=None, help="patch views per step (default 64 on GPU, 16 on CPU)")
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", default="32-true", help="the product's precision (32-true, bf16-mixed)")
    parser.add_argument("--smoke", action="store_true", help="tiny CLIP, a 64 px photo, one step: checks the script")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    size = args.size or (512 if gpu else 256)
    patches = args.patches or (64 if gpu else 16)
    if args.smoke:
        size, patches, args.patch_size, args.steps, args.warmup = 64, 2, 32, 1, 0
    print(describe_machine(device))
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as scratch:
        clip_file = write_clip(Path(scratch) / "clip.pt", TINY_CLIP if args.smoke else VIT_B32)
        from torchvision.models.vgg import cfgs, make_layers

        torch.manual_seed(0)
        vgg_file = Path(scratch) / "vgg19.pth"
        torch.save({f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}, vgg_file)
        content = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        reference = PublishedLoop(clip_file, vgg_file, content, patches, args.patch_size, device)
        product = product_run(clip_file, vgg_file, content, patches, args.patch_size, device, args.precision)
        flops = step_flops(product)
        times: dict[str, list[float]] = {"reference": [], "product": []}
        for index in range(args.warmup + args.steps):
            for name, step in (("reference", reference.step), ("product", product.step)):
                synchronize(device)
                start = time.perf_counter()
                step()
                synchronize(device)
                if index >= args.warmup:
                    times[name].append(time.perf_counter() - start)
    ref, prod = median(times["reference"]), median(times["product"])
    print(
        f"per-image step: {size}x{size} photo, {patches} patches of {args.patch_size} px, U-Net width 16, "
        f"{args.steps} timed steps after {args.warmup} warm-up; product precision {args.precision}, reference fp32; "
        f"{flops / 1e9:.1f} GFLOP per product step"
    )
    rows = [["reference (published loop)", f"{ref:.3f}", "1.00x"], ["product (optimize)", f"{prod:.3f}", f"{ref / prod:.2f}x"]]
    print(format_table(["contender", "median step s", "speed-up"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
