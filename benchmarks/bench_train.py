#!/usr/bin/env python
"""Training-step benchmark: the published CLIPstyler fast-training loop against ``StyleTransfer``.

Full-size networks with random weights (CLIP ViT-B/32, VGG-19 up to relu4_1, the decoder) are
written to temporary files; the product loads them through its own loaders, the reference loads
CLIP with ``clip.load`` as the published code does. Both contenders train the same decoder from
the same start, in the same process, on the same content batches:

* reference: a plain PyTorch loop written the way the published training code does it: fp32,
  one perspective warp per view shared by the batch (torchvision's ``F.perspective``, as
  ``RandomPerspective`` applies it), the views made in a Python loop, every CLIP input resized
  (bicubic ``F.interpolate``) and normalised per call, separate CLIP calls for the views, the
  whole outputs and the contents, the text direction recomputed every step, Adam with the
  reference learning-rate decay. Frozen weights do not require gradients here (the published
  code also computes CLIP's weight gradients and encodes each content batch twice through VGG;
  leaving that out makes the reference faster, so the ratio is conservative).
* product: ``StyleTransfer`` trained by a Lightning ``Trainer`` exactly as ``fit`` runs it, with
  the speed options a user would pick (its defaults unless given here).

By default the two alternate step by step (reference step, product step, ...), so that both see
the same machine load; ``--order sequential`` runs all reference steps first.
Peak memory is sampled on one more, untimed step of each contender after the timed ones: on a
CPU the sampling thread would slow the step it watches.

Before timing, the product is run once in fp32 with the reference's warps on the first batch:
its total loss must equal the reference's within fp32 tolerance (both compute the same
objective); the script exits with status 1 otherwise.

Examples::

    python benchmarks/bench_train.py                        # CPU, batch 1, 16 views, crop 224
    python benchmarks/bench_train.py --device cuda --batch 4 --steps 20 --warmup 3
    python benchmarks/bench_train.py --smoke                # tiny models, one step, seconds
"""

from __future__ import annotations

import argparse
import gc
import inspect
import logging
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning as L  # noqa: E402
from torchvision.transforms import InterpolationMode  # noqa: E402
from torchvision.transforms import functional as TF  # noqa: E402

from benchmarks.common import (  # noqa: E402
    TINY_CLIP,
    VIT_B32,
    PeakMemory,
    describe_machine,
    format_table,
    matmul_rate,
    median,
    synchronize,
    write_clip,
    write_decoder,
    write_vgg,
)
from clipstyler_fast.nets.clip_model import (
    CLIP_MEAN,
    CLIP_STD,  # noqa: E402
)
from clipstyler_fast.nets.decoder import build_decoder  # noqa: E402
from clipstyler_fast.nets.vgg import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_vgg_encoder,  # noqa: E402
)
from clipstyler_fast.objective.templates import compose  # noqa: E402
from clipstyler_fast.objective.views import sample_corners  # noqa: E402
from clipstyler_fast.precision import autocast_dtype  # noqa: E402
from clipstyler_fast.train.clip_style import ClipStyleModule  # noqa: E402
from clipstyler_fast.train.data import seeded_generator  # noqa: E402
from clipstyler_fast.train.model import StyleTransfer  # noqa: E402

PROMPT = "a watercolor painting"
SOURCE = "a Photo"
# Reference recipe hyperparameters (the published fast-training defaults).
CONTENT_WEIGHT, CLIP_WEIGHT, GLOB_WEIGHT, TV_WEIGHT = 1.0, 10.0, 1.0, 1e-4
THRESHOLD, DISTORTION, LR, LR_DECAY = 0.7, 0.5, 1e-4, 5e-5
# Different op order (batched vs separate CLIP calls, memory layouts) moves fp32 results by ~1e-6.
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5


# --------------------------------------------------------------------------- reference loop
class ReferenceLoop:
    """The published fast-training step, in plain PyTorch, one call per step."""

    def __init__(
        self, clip_file: Path, vgg_file: Path, decoder_file: Path, num_views: int, device: torch.device, encoder: str = "adain"
    ) -> None:
        import clip

        self.device = device
        self.num_views = num_views
        # Loaded as the published code loads it (clip.load), so that it runs CLIP's own modules.
        self.clip_model = clip.load(str(clip_file), device="cpu", jit=False)[0].float().eval().to(device)
        self.clip_model.requires_grad_(False)
        self.resolution = int(self.clip_model.visual.input_resolution)
        self.vgg = load_vgg_encoder(vgg_file, encoder).features.to(device)
        # vgg_normalised normalises in its first (1x1) convolution; torchvision's VGG needs ImageNet statistics.
        self.normalizes_input = encoder == "torchvision"
        self.decoder = build_decoder().to(device)
        self.decoder.load_state_dict(torch.load(decoder_file, map_location=device, weights_only=True))
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=LR)
        self.iteration = 0
        # Text features are encoded once before the loop, as the published code does.
        with torch.no_grad():
            tokens = clip.tokenize(compose(PROMPT)).to(device)
            text_features = self.clip_model.encode_text(tokens).mean(dim=0, keepdim=True)
            self.text_features = text_features / text_features.norm(dim=-1, keepdim=True)
            tokens = clip.tokenize(compose(SOURCE)).to(device)
            text_source = self.clip_model.encode_text(tokens).mean(dim=0, keepdim=True)
            self.text_source = text_source / text_source.norm(dim=-1, keepdim=True)

    def img_normalize(self, image: torch.Tensor) -> torch.Tensor:
        if not self.normalizes_input:
            return image
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, -1, 1, 1)
        return (image - mean) / std

    def clip_normalize(self, image: torch.Tensor) -> torch.Tensor:
        image = F.interpolate(image, size=self.resolution, mode="bicubic")
        mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(CLIP_STD, device=self.device).view(1, -1, 1, 1)
        return (image - mean) / std

    @staticmethod
    def tv(image: torch.Tensor) -> torch.Tensor:
        diff1 = image[:, :, :, :-1] - image[:, :, :, 1:]
        diff2 = image[:, :, :-1, :] - image[:, :, 1:, :]
        diff3 = image[:, :, 1:, :-1] - image[:, :, :-1, 1:]
        diff4 = image[:, :, :-1, :-1] - image[:, :, 1:, 1:]
        return torch.norm(diff1) + torch.norm(diff2) + torch.norm(diff3) + torch.norm(diff4)

    def step(self, content: torch.Tensor, corners: torch.Tensor) -> float:
        """One optimisation step on ``content``; ``corners`` ``(N, 4, 2)``: one warp per view."""
        for group in self.optimizer.param_groups:
            group["lr"] = LR / (1.0 + LR_DECAY * self.iteration)
        self.iteration += 1
        batch, channels, height, width = content.shape

        content_feat = self.vgg(self.img_normalize(content))
        out_img = self.decoder(content_feat)
        loss_c = F.mse_loss(self.vgg(self.img_normalize(out_img)), content_feat)

        start = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        aug_img = []
        for view in range(self.num_views):
            out_aug = TF.perspective(out_img, start, corners[view].tolist(), InterpolationMode.BILINEAR, [0.0] * channels)
            aug_img.append(TF.resize(out_aug, self.resolution, antialias=True))
        aug_img = torch.cat(aug_img, dim=0)

        source_features = self.clip_model.encode_image(self.clip_normalize(content))
        source_features = source_features / source_features.clone().norm(dim=-1, keepdim=True)
        image_features = self.clip_model.encode_image(self.clip_normalize(aug_img))
        image_features = image_features / image_features.clone().norm(dim=-1, keepdim=True)
        img_direction = image_features - source_features.repeat(self.num_views, 1)
        img_direction = img_direction / img_direction.clone().norm(dim=-1, keepdim=True)

        text_direction = self.text_features - self.text_source
        text_direction = text_direction / text_direction.norm(dim=-1, keepdim=True)
        loss_temp = 1 - torch.cosine_similarity(img_direction, text_direction.repeat(image_features.size(0), 1), dim=1)
        loss_temp[loss_temp < THRESHOLD] = 0
        loss_patch = loss_temp.mean()

        glob_features = self.clip_model.encode_image(self.clip_normalize(out_img))
        glob_features = glob_features / glob_features.clone().norm(dim=-1, keepdim=True)
        glob_direction = glob_features - source_features
        glob_direction = glob_direction / glob_direction.clone().norm(dim=-1, keepdim=True)
        loss_glob = (1 - torch.cosine_similarity(glob_direction, text_direction.repeat(batch, 1), dim=1)).mean()

        loss = CONTENT_WEIGHT * loss_c + CLIP_WEIGHT * loss_patch + GLOB_WEIGHT * loss_glob + TV_WEIGHT * self.tv(out_img)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def shared_corners(batch: dict[str, Any], num_views: int, height: int, width: int) -> torch.Tensor:
    """The warps ``StyleTransfer.training_step`` draws for ``batch`` when views are shared."""
    return sample_corners(num_views, height, width, DISTORTION, seeded_generator(int(batch["index"][0]), 2))


# --------------------------------------------------------------------------- product runs
@dataclass
class StepLog:
    """Per-step wall times, peak memory and losses of one contender."""

    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    increases: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


class StepWatch:
    """Times a step, or samples its peak memory: never both, since on a CPU the sampling thread
    takes time from the step (about 9% of a 2-core step)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.memory = PeakMemory(device)
        self.sampling = False
        self._t0 = self._cpu0 = 0.0

    def start(self, sample_memory: bool) -> None:
        synchronize(self.device)
        self.sampling = sample_memory
        if sample_memory:
            self.memory.start()
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()

    def stop(self, log: StepLog, loss: float) -> None:
        synchronize(self.device)
        if self.sampling:
            peak, increase = self.memory.stop()
            log.peaks.append(peak)
            log.increases.append(increase)
        else:
            log.times.append(time.perf_counter() - self._t0)
            log.cpu.append(time.process_time() - self._cpu0)
        log.losses.append(loss)


class StepClock(L.Callback):
    """Times each product training step (from step ``memory_from`` on, samples its memory instead);
    optionally runs one reference step, watched alike, before it."""

    def __init__(
        self, device: torch.device, product: StepLog, reference: tuple[ReferenceLoop, StepLog, int] | None, memory_from: int | None = None
    ) -> None:
        self.watch = StepWatch(device)
        self.product = product
        self.reference = reference
        self.memory_from = memory_from

    def _samples_memory(self, batch_idx: int) -> bool:
        return self.memory_from is not None and batch_idx >= self.memory_from

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self.reference is not None:
            loop, log, views = self.reference
            corners = shared_corners(batch, views, *batch["image"].shape[-2:])
            watched_step(loop, batch["image"], corners, self.watch, log, self._samples_memory(batch_idx))
        self.watch.start(self._samples_memory(batch_idx))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.watch.stop(self.product, float(outputs["loss"]))


def watched_step(
    loop: ReferenceLoop, content: torch.Tensor, corners: torch.Tensor, watch: StepWatch, log: StepLog, sample_memory: bool
) -> None:
    watch.start(sample_memory)
    watch.stop(log, loop.step(content, corners))


def fit_product(
    options: dict[str, Any], batches: list[dict[str, Any]], device: torch.device, callbacks: list[L.Callback], root: Path
) -> StyleTransfer:
    """Train ``StyleTransfer`` on ``batches`` (one step each) with a Lightning Trainer, as ``fit`` does."""
    model = StyleTransfer(prompt=PROMPT, source_text=SOURCE, preview_every_n_steps=0, **options)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_steps=len(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=callbacks,
        default_root_dir=str(root),
    )
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return model


def product_loss_first_step(options: dict[str, Any], batch: dict[str, Any], device: torch.device, root: Path) -> float:
    """Total loss of the product's first training step on ``batch`` (before its update)."""
    log = StepLog()
    model = fit_product(options, [batch], device, [StepClock(device, log, None)], root)
    del model
    gc.collect()
    return log.losses[0]


def count_flops(step: Any) -> float | None:
    """FLOPs of ``step()`` (one forward+backward, with or without its optimiser step), or None."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            step()
        return float(counter.get_total_flops())
    except Exception as error:  # counting is informative only
        print(f"(FLOP count unavailable: {type(error).__name__}: {error})")
        return None


def product_flops(model: StyleTransfer, batch: dict[str, Any]) -> float | None:
    images = batch["image"].to(model.device)
    flops = count_flops(lambda: model.compute_losses(images, seeded_generator(int(batch["index"][0]), 2))["loss"].backward())
    model.decoder.zero_grad(set_to_none=True)
    return flops


# --------------------------------------------------------------------------- inputs
def content_batches(count: int, batch: int, crop: int, seed: int = 0) -> list[dict[str, Any]]:
    """Smooth random 'photos' (bicubic-upsampled noise) as the training batches a loader yields."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for step in range(count):
        coarse = torch.rand(batch, 3, max(2, crop // 16), max(2, crop // 16), generator=generator)
        images = F.interpolate(coarse, size=(crop, crop), mode="bicubic", align_corners=False).clamp(0, 1)
        index = torch.arange(step * batch, (step + 1) * batch)
        out.append({"image": images.contiguous(), "index": index, "skipped": []})
    return out


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda when available"
    )
    parser.add_argument("--batch", type=int, default=None, help="content crops per step (default: 4 on cuda as the reference, 1 on cpu)")
    parser.add_argument("--views", type=int, default=16, help="perspective views per output image (default 16)")
    parser.add_argument("--crop", type=int, default=224, help="training crop size, a multiple of 8 (default 224)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per contender (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps per contender (default 1)")
    parser.add_argument(
        "--order",
        choices=("interleaved", "sequential"),
        default="interleaved",
        help="alternate reference and product steps (default), or all reference steps first",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--encoder", choices=("adain", "torchvision"), default="adain", help="VGG-19 encoder of both sides (default adain, the reference's)"
    )
    parser.add_argument(
        "--frozen-precision",
        choices=("auto", "bf16", "fp32"),
        default=None,
        help="product option (default: StyleTransfer's default, auto: bf16 where the processor computes it natively)",
    )
    parser.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=None, help="product option (default: StyleTransfer's default)"
    )
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=None, help="product option (default: StyleTransfer's default)"
    )
    parser.add_argument(
        "--per-sample-views", action=argparse.BooleanOptionalAction, default=None, help="product option (default: StyleTransfer's default)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny CLIP, batch 2, 4 views, crop 32, one timed step: checks the script in seconds"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.views, args.crop, args.steps, args.warmup = 2, 4, 32, 1, 0
    if args.batch is None:
        args.batch = 4 if args.device == "cuda" else 1
    if args.crop % 8 or args.batch < 1 or args.views < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--crop must be a multiple of 8; --batch, --views and --steps at least 1; --warmup at least 0")
    return args


def quiet() -> None:
    from clipstyler_fast.cli.main import quiet_known_warnings

    quiet_known_warnings()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*validation_step.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="clip.clip")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def product_options(args: argparse.Namespace, device: torch.device) -> tuple[dict[str, Any], str]:
    """The product's speed options (its defaults unless given) and the number format its frozen
    networks run in."""
    defaults = {k: v.default for k, v in inspect.signature(ClipStyleModule.__init__).parameters.items()}
    fast = {
        "frozen_precision": args.frozen_precision or defaults["frozen_precision"],
        "channels_last": defaults["channels_last"] if args.channels_last is None else args.channels_last,
        "compile": defaults["compile"] if args.compile is None else args.compile,
        "per_sample_views": defaults["per_sample_views"] if args.per_sample_views is None else args.per_sample_views,
    }
    dtype = autocast_dtype(fast["frozen_precision"], device, "frozen_precision")
    return fast, "bf16" if dtype is torch.bfloat16 else "fp32"


def print_header(args: argparse.Namespace, argv: list[str] | None, device: torch.device, fast: dict[str, Any], frozen_name: str) -> None:
    clip_name = "tiny CLIP ViT (smoke)" if args.smoke else "CLIP ViT-B/32"
    print("clipstyler-fast training-step benchmark: python benchmarks/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(describe_machine(device))
    print(
        f"networks: {clip_name}, VGG-19 ({args.encoder}) to relu4_1, decoder; random weights from files (product: its loaders, reference: clip.load) | "
        f"batch {args.batch}, {args.views} views, crop {args.crop} | {args.steps} timed steps after {args.warmup} warm-up, {args.order}"
    )
    print("product options: " + " ".join(f"{k}={v}" for k, v in fast.items()))
    print(f"precision: reference fp32 | product frozen networks {frozen_name} (frozen_precision={fast['frozen_precision']}), decoder fp32")
    sys.stdout.flush()


def network_files(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Random full-size (or, for ``--smoke``, tiny) weight files, as the product's options name them."""
    return {
        "clip_model": str(write_clip(root / "clip.pt", TINY_CLIP if args.smoke else VIT_B32)),
        "encoder": args.encoder,
        "vgg_weights": str(write_vgg(root / "vgg19.pth", args.encoder)),
        "decoder_init": str(write_decoder(root / "decoder.pt")),
        "num_views": args.views,
    }


def product_losses(
    files: dict[str, Any], fast: dict[str, Any], frozen_name: str, batch: dict[str, Any], device: torch.device, root: Path
) -> tuple[float, float | None]:
    """The product's first-step loss in fp32 with the reference's shared warps (it must equal the
    reference's), and with its own frozen precision on the same warps where that is not fp32."""
    exact = {**files, **fast, "frozen_precision": "fp32", "per_sample_views": False, "compile": False}
    product_fp32 = product_loss_first_step(exact, batch, device, root)
    if frozen_name == "fp32":
        return product_fp32, None
    return product_fp32, product_loss_first_step({**exact, "frozen_precision": fast["frozen_precision"]}, batch, device, root)


@dataclass
class Timings:
    """Both contenders' step logs, and what the report needs of the runs."""

    reference: StepLog
    product: StepLog
    reference_flops: float | None
    product_flops: float | None
    resolution: int


def time_contenders(
    args: argparse.Namespace, files: dict[str, Any], fast: dict[str, Any], batches: list[dict[str, Any]], device: torch.device, root: Path
) -> Timings:
    """The reference loop and the product's fit, step for step (or all reference steps first)."""
    reference = ReferenceLoop(
        Path(files["clip_model"]), Path(files["vgg_weights"]), Path(files["decoder_init"]), args.views, device, args.encoder
    )
    batches = [{**b, "image": b["image"].to(device)} if args.order == "sequential" else b for b in batches]
    ref_log, prod_log = StepLog(), StepLog()
    memory_from = args.warmup + args.steps  # the last batch: each contender's memory step
    if args.order == "sequential":
        watch = StepWatch(device)
        for index, batch in enumerate(batches):
            corners = shared_corners(batch, args.views, args.crop, args.crop)
            watched_step(reference, batch["image"], corners, watch, ref_log, index >= memory_from)
        clock = StepClock(device, prod_log, None, memory_from)
    else:
        clock = StepClock(device, prod_log, (reference, ref_log, args.views), memory_from)
    model = fit_product({**files, **fast}, batches, device, [clock], root)
    first = batches[0]
    # Counted after the timed steps: this extra reference step moves its decoder, which no longer matters.
    ref_flops = count_flops(lambda: reference.step(first["image"].to(device), shared_corners(first, args.views, args.crop, args.crop)))
    return Timings(ref_log, prod_log, ref_flops, product_flops(model, first), reference.resolution)


def timing_row(name: str, log: StepLog, warmup: int, flops: float | None, rate: float) -> list[str]:
    timed = log.times[warmup:]
    step = median(timed)
    row = [
        name,
        f"{step:.3f}",
        f"{min(timed):.3f}",
        f"{max(timed):.3f}",
        f"{median(log.cpu[warmup:]):.2f}",
        f"{max(log.peaks) / 2**20:.0f}",
        f"{max(log.increases) / 2**20:.0f}",
    ]
    if flops:
        achieved = flops / step
        return [*row, f"{achieved / 1e12:.3f}", f"{100 * achieved / rate:.1f}%"]
    return [*row, "n/a", "n/a"]


def print_timings(args: argparse.Namespace, device: torch.device, timings: Timings, frozen_name: str) -> None:
    # Utilisation against the matmul rate of the number format each side's frozen passes ran in.
    size = 256 if args.smoke else None
    rates = {"fp32": matmul_rate(device, torch.float32, size)}
    rates[frozen_name] = rates.get(frozen_name) or matmul_rate(device, torch.bfloat16, size)
    ref_log, prod_log = timings.reference, timings.product
    rows = [
        timing_row("reference (published loop, fp32)", ref_log, args.warmup, timings.reference_flops, rates["fp32"]),
        timing_row(
            f"product (StyleTransfer via Trainer.fit, {frozen_name})", prod_log, args.warmup, timings.product_flops, rates[frozen_name]
        ),
    ]
    memory_name = "GPU peak alloc MiB" if device.type == "cuda" else "peak RSS MiB"
    print()
    print(format_table(["step", "median s", "min s", "max s", "cpu s", memory_name, "step +MiB", "TFLOP/s", "MFU"], rows))
    ratio = median(ref_log.times[args.warmup :]) / median(prod_log.times[args.warmup :])
    print(f"speed-up (reference median / product median): {ratio:.2f}x")
    print(
        "all step times s: reference "
        + " ".join(f"{t:.3f}" for t in ref_log.times)
        + " | product "
        + " ".join(f"{t:.3f}" for t in prod_log.times)
    )
    if timings.reference_flops and timings.product_flops:
        print(
            f"model FLOPs per step (forward+backward, FlopCounterMode): reference {timings.reference_flops / 1e9:.1f} GFLOP, "
            f"product {timings.product_flops / 1e9:.1f} GFLOP; "
            "MFU against the measured matmul rate of the format each side ran in: "
            + ", ".join(f"{name} {rate / 1e12:.3f} TFLOP/s" for name, rate in rates.items())
        )


def print_loss_check(
    args: argparse.Namespace, fast: dict[str, Any], ref_loss: float, losses: tuple[float, float | None], resolution: int
) -> bool:
    """Says whether the product's fp32 loss equals the reference's on the first batch; returns it."""
    product_fp32, product_fast_shared = losses
    difference = abs(product_fp32 - ref_loss)
    match = difference <= LOSS_ATOL + LOSS_RTOL * abs(ref_loss)
    print()
    print("loss check (first batch, same inputs, same warps, same decoder start; fp32):")
    print(f"  reference total loss: {ref_loss:.6f}")
    print(f"  product total loss:   {product_fp32:.6f}  (frozen_precision=fp32, shared warps, channels_last={fast['channels_last']})")
    print(
        f"  |difference| {difference:.2e} (relative {difference / max(abs(ref_loss), 1e-12):.2e}); tolerance {LOSS_ATOL:g} + {LOSS_RTOL:g} x |reference|"
    )
    print(f"  losses match within fp32 tolerance: {'yes' if match else 'NO'}")
    if args.crop != resolution:
        print(
            f"  note: crop {args.crop} differs from CLIP's input size {resolution}: the published code resizes the views "
            "with torchvision's Resize before CLIP's bicubic resize, the product resizes them bicubic once"
        )
    if product_fast_shared is not None:
        relative = abs(product_fast_shared - product_fp32) / max(abs(product_fp32), 1e-12)
        print(
            f"  product with frozen_precision={fast['frozen_precision']} on the same batch and warps: {product_fast_shared:.6f} (relative difference to fp32 {relative:.2e})"
        )
    return match


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        # The published code sets it; the training crop size never changes, so both sides gain.
        torch.backends.cudnn.benchmark = True
    fast, frozen_name = product_options(args, device)
    # One more batch than the warm-up and timed steps: each contender's untimed memory step.
    batches = content_batches(args.warmup + args.steps + 1, args.batch, args.crop)
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        root = Path(tmp)
        files = network_files(root, args)
        print_header(args, argv, device, fast, frozen_name)
        # 1. Same objective: product in fp32 with the reference's shared warps, first batch.
        losses = product_losses(files, fast, frozen_name, batches[0], device, root)
        # 2. Timing: the reference loop and the product's fit, step for step.
        timings = time_contenders(args, files, fast, batches, device, root)
    print_timings(args, device, timings, frozen_name)
    return 0 if print_loss_check(args, fast, timings.reference.losses[0], losses, timings.resolution) else 1


if __name__ == "__main__":
    sys.exit(main())
