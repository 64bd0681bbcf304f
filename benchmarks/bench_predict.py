#!/usr/bin/env python
"""Inference benchmark: the product's predict path against a plain fp32 ``decoder(encoder(x))``.

Full-size networks (VGG-19 up to relu4_1 and the decoder) with random weights cost exactly what
trained ones do. Weights are drawn with He initialisation so that activations have realistic
magnitudes (PyTorch's default init shrinks them layer by layer, which would make the numerical
comparison meaningless).

* plain: ``decoder(encoder(x))`` in fp32 under ``torch.no_grad()``, the way the reference code
  runs inference; at 4096x4096 only with ``--plain-4096`` (one untiled pass needs ~10 GiB and
  several minutes on two cores).
* product: :class:`clipstyler_fast.Stylizer` with its defaults, as ``clipstyler-fast predict``
  runs it: ``torch.inference_mode``, channels-last, bf16 autocast where the hardware computes
  bf16 natively (``clipstyler_fast.precision``), reflection padding, clamping, and overlapping tiles
  above 2048x2048 pixels.
* any-prompt: :meth:`Stylizer.from_checkpoint` on an any-prompt checkpoint at one of its prompts
  (the network specialised to the prompt), against the product on a per-prompt checkpoint.
* student: the same :class:`~clipstyler_fast.Stylizer` path on a distilled student network
  (``clipstyler-fast distill``, the default :class:`~clipstyler_fast.nets.student.StudentConfig`,
  random He-initialised weights), in the precision ``clipstyler_fast.precision`` picks.

Every measurement runs in a fresh subprocess so that its peak memory (the process's peak
resident set, VmHWM) is its own. Images are square random tensors (decoding and encoding files
are not included: ``predict`` does them in DataLoader workers and writer threads).

A numerical check compares product and plain outputs on the same 512x512 photo-like image:
the largest and mean absolute differences, as fractions of the plain output's value range. A
last table shows what each of the product's two speed settings (channels-last, bf16 autocast)
buys on its own at the first size.

Timings are medians of 3 runs after one warm-up run up to 512x512, one run after one warm-up at
1024x1024, and one cold run above.

Examples::

    python benchmarks/bench_predict.py              # the CPU table (about 10 minutes on 2 cores)
    python benchmarks/bench_predict.py --sizes 512 1024 --repeats 3
    python benchmarks/bench_predict.py --device cuda --plain-4096
    python benchmarks/bench_predict.py --smoke      # tiny sizes, one iteration, for the tests
    python benchmarks/bench_predict.py --sizes 512 1024 4096 --threads 2 --no-ablation  # with the student table
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ----------------------------------------------------------------------------- worker side
def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _networks(kind: str) -> tuple[Any, Any]:
    import torch

    from clipstyler_fast.nets.decoder import build_decoder
    from clipstyler_fast.nets.vgg import VGGEncoder, build_adain_features, build_torchvision_features

    torch.manual_seed(0)
    features = build_adain_features() if kind == "adain" else build_torchvision_features()
    encoder = VGGEncoder(features, kind)
    decoder = build_decoder()
    for module in [*encoder.modules(), *decoder.modules()]:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)
    return encoder.eval().requires_grad_(False), decoder.eval().requires_grad_(False)


def _student() -> Any:
    import torch

    from clipstyler_fast.nets.student import build_student

    torch.manual_seed(0)
    student = build_student()
    for module in student.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return student.eval().requires_grad_(False)


def _any_prompt_stylizer(kind: str, folder: Path, **options: Any) -> Any:
    """:meth:`Stylizer.from_checkpoint` on an any-prompt checkpoint at a prompt of its bank: the
    real loading path (the network specialised to the prompt), from files written here: a full-size
    FiLM (CLIP ViT-B/32's 512-wide text directions) with random weights, and random VGG-19 weights."""
    import torch

    from benchmarks.common import write_vgg
    from clipstyler_fast.infer.stylizer import Stylizer
    from clipstyler_fast.nets.conditioned_file import ConditionedFile
    from clipstyler_fast.nets.conditioning import ConditionedDecoder, ConditioningConfig
    from clipstyler_fast.nets.style_file import CONDITIONED_NETWORK, StyleRecord

    torch.manual_seed(0)
    _, decoder = _networks(kind)
    network = ConditionedDecoder(ConditioningConfig(embed_dim=512))
    network.decoder.load_state_dict(decoder.state_dict())
    torch.nn.init.normal_(network.film.net[-1].weight, std=0.02)
    bank = ["a watercolor painting", "a mosaic"]
    directions = torch.nn.functional.normalize(torch.randn(len(bank), 512), dim=-1)
    record = StyleRecord(prompt=None, encoder=kind, vgg_weights=str(write_vgg(folder / "vgg.pth", kind)), network=CONDITIONED_NETWORK)
    path = ConditionedFile(record, network, bank, directions).write(folder / "any-prompt.ckpt")
    return Stylizer.from_checkpoint(path, prompt=bank[0], **options)


def _photo(size: int) -> Any:
    """A smooth photo-like image (gradients, a blob, stripes) as a ``(1, 3, size, size)`` tensor in [0, 1]."""
    import torch

    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    channels = [
        0.5 + 0.3 * torch.sin(2 * math.pi * (3 * x + 1.5 * y)),
        0.5 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.6) ** 2) / 0.05),
        0.5 + 0.2 * torch.sin(2 * math.pi * 9 * y) * torch.cos(2 * math.pi * 2 * x),
    ]
    return torch.stack(channels).clamp(0, 1)[None]


def _contender(args: argparse.Namespace, device: Any) -> tuple[Callable[[Any], Any], str]:
    """The forward pass ``args.variant`` measures, and the precision it runs in."""
    import torch

    from clipstyler_fast.infer.stylizer import Stylizer
    from clipstyler_fast.nets.decoder import EncoderDecoder
    from clipstyler_fast.precision import mixed_precision

    # The student is measured alone: the teacher's weights are not in its peak memory.
    encoder, decoder = _networks(args.encoder) if args.variant not in ("student", "any-prompt") else (None, None)
    if args.variant == "plain":
        encoder, decoder = encoder.to(device), decoder.to(device)

        def plain(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return decoder(encoder(x))

        return plain, "32-true"
    # The ablation variants switch off one of the product's two speed settings.
    options = {
        "product": {},
        "student": {},
        "any-prompt": {},
        "fp32-channels-last": {"precision": "32-true"},
        "bf16-contiguous": {"channels_last": False},
    }[args.variant]
    tiles = {"tile_above": args.tile_above, "tile_size": args.tile_size, "tile_overlap": args.tile_overlap}
    if args.variant == "any-prompt":
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            stylizer = _any_prompt_stylizer(args.encoder, Path(folder), device=device, **tiles)
    else:
        network = _student() if args.variant == "student" else EncoderDecoder(encoder, decoder)
        stylizer = Stylizer(network, **tiles, **options).to(device)

    def product(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return stylizer(x)

    return product, options.get("precision", mixed_precision(device.type))


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Time one contender at one size; returns seconds per image and memory figures."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    run, precision = _contender(args, device)
    image = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1)).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = _peak_rss_mib()
    times = []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        out = run(image)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
        del out
    result = {
        "variant": args.variant,
        "size": args.size,
        "precision": precision,
        "seconds": sorted(times)[len(times) // 2],
        "runs": len(times),
        "threads": torch.get_num_threads(),
        "base_rss_mib": base_rss,
        "peak_rss_mib": _peak_rss_mib(),
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def numerics(args: argparse.Namespace) -> dict[str, Any]:
    """Product vs plain fp32 on one photo-like image, as fractions of the plain output's range."""
    import torch

    from clipstyler_fast.infer.stylizer import Stylizer
    from clipstyler_fast.nets.decoder import EncoderDecoder
    from clipstyler_fast.precision import mixed_precision

    device = torch.device(args.device)
    encoder, decoder = _networks(args.encoder)
    image = _photo(args.size).to(device)
    with torch.no_grad():
        plain = decoder.to(device)(encoder.to(device)(image)).float()
    stylizer = Stylizer(EncoderDecoder(encoder, decoder)).to(device)
    with torch.inference_mode():
        product = stylizer.stylize(image)
    span = (plain.max() - plain.min()).item()
    diff = (product - plain).abs()
    return {
        "size": args.size,
        "precision": mixed_precision(device.type),
        "max_rel": diff.max().item() / span,
        "mean_rel": diff.mean().item() / span,
    }


# ----------------------------------------------------------------------------- driver side
def _spawn(mode: str, args: argparse.Namespace, **overrides: Any) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), f"--{mode}", "--device", args.device]
    options = {
        "size": None,
        "variant": None,
        "repeats": 1,
        "warmup": 0,
        "tile_above": args.tile_above,
        "tile_size": args.tile_size,
        "tile_overlap": args.tile_overlap,
        "encoder": args.encoder,
        "threads": args.threads,
    }
    options.update(overrides)
    for key, value in options.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"benchmark worker failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt_mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:.2f} GiB" if value >= 1024 else f"{value:.0f} MiB"


def _print_any_prompt_table(rows: list[Any], any_rows: list[dict[str, Any]], tiled_from: int) -> None:
    """An any-prompt checkpoint at a prompt beside a per-prompt checkpoint (the product), same run."""
    print("\nany-prompt checkpoint at a prompt (Stylizer.from_checkpoint(path, prompt=...)) vs a per-prompt one:\n")
    print("| image | per-prompt images/s | any-prompt images/s | any-prompt time / per-prompt time | any-prompt peak RSS |")
    print("|---|---|---|---|---|")
    for (size, _, product), anyp in zip(rows, any_rows):
        label = f"{size}x{size}" + (" tiled" if size >= tiled_from else "")
        print(
            f"| {label} | {1 / product['seconds']:.3f} | {1 / anyp['seconds']:.3f} | {anyp['seconds'] / product['seconds']:.3f} | "
            f"{_fmt_mib(anyp['peak_rss_mib'])} |"
        )


def _print_student_table(rows: list[Any], student_rows: list[tuple[int, dict[str, Any]]], tiled_from: int) -> None:
    """The distilled student beside the teacher's two paths, measured in the same run."""
    print(f"\ndistilled student (default config, {student_rows[0][1]['precision']}), same Stylizer path:\n")
    print("| image | student images/s | vs plain fp32 | vs product | student peak RSS |")
    print("|---|---|---|---|---|")
    for (size, plain, product), (_, student) in zip(rows, student_rows):
        label = f"{size}x{size}" + (" tiled" if size >= tiled_from else "")
        rate = 1 / student["seconds"]
        versus_plain = "-" if plain is None else f"{plain['seconds'] / student['seconds']:.2f}x"
        print(
            f"| {label} | {rate:.3f} | {versus_plain} | {product['seconds'] / student['seconds']:.2f}x | {_fmt_mib(student['peak_rss_mib'])} |"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--encoder",
        choices=["adain", "torchvision"],
        default="adain",
        help="VGG-19 encoder (default adain: reflection padding, the default of fit)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096], help="square image sides")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default: 3 up to 512, then 1)")
    parser.add_argument("--plain-4096", action="store_true", help="also run the plain reference at 4096 and above (needs ~10 GiB)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one run each: checks the script works")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per measurement (default: torch's own choice)")
    parser.add_argument("--no-student", action="store_true", help="skip the distilled student's table")
    parser.add_argument("--no-any-prompt", action="store_true", help="skip the any-prompt checkpoint's table")
    parser.add_argument("--tile-above", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tile-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tile-overlap", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--numerics", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--variant", choices=["plain", "product", "student", "any-prompt", "fp32-channels-last", "bf16-contiguous"], help=argparse.SUPPRESS
    )
    parser.add_argument("--no-ablation", action="store_true", help="skip the table of what each speed setting buys")
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def _measure_in_this_process(args: argparse.Namespace) -> int:
    """The worker side: one measurement, printed as one JSON line for the driver."""
    from clipstyler_fast.infer.stylizer import DEFAULT_TILE_ABOVE, DEFAULT_TILE_OVERLAP, DEFAULT_TILE_SIZE

    args.tile_above = DEFAULT_TILE_ABOVE if args.tile_above is None else args.tile_above
    args.tile_size = args.tile_size or DEFAULT_TILE_SIZE
    args.tile_overlap = DEFAULT_TILE_OVERLAP if args.tile_overlap is None else args.tile_overlap
    args.repeats = args.repeats or 1
    print(json.dumps(worker(args) if args.worker else numerics(args)))
    return 0


@dataclass
class Measurements:
    """Every worker's result of one benchmark run."""

    rows: list[tuple[int, dict[str, Any] | None, dict[str, Any]]] = field(default_factory=list)
    student_rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    any_prompt_rows: list[dict[str, Any]] = field(default_factory=list)
    ablation: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    check: dict[str, Any] = field(default_factory=dict)


def _measure_sizes(args: argparse.Namespace, sizes: list[int], started: float, measured: Measurements) -> None:
    """Plain, product, any-prompt and student at each size, each in a fresh worker process."""
    for size in sizes:
        repeats = args.repeats or (3 if size <= 512 else 1)
        warmup = 0 if args.smoke or size > 1024 else 1  # a warm-up at 2048 and above would cost minutes
        run_plain = size < 4096 or args.plain_4096 or args.smoke
        plain = _spawn("worker", args, size=size, variant="plain", repeats=repeats, warmup=warmup) if run_plain else None
        product = _spawn("worker", args, size=size, variant="product", repeats=repeats, warmup=warmup)
        if not args.no_any_prompt:
            measured.any_prompt_rows.append(_spawn("worker", args, size=size, variant="any-prompt", repeats=repeats, warmup=warmup))
        if not args.no_student:
            measured.student_rows.append((size, _spawn("worker", args, size=size, variant="student", repeats=repeats, warmup=warmup)))
        measured.rows.append((size, plain, product))
        print(f"  measured {size}x{size} ({time.perf_counter() - started:.0f} s so far)", file=sys.stderr, flush=True)


def _measure_ablation(args: argparse.Namespace, measured: Measurements) -> None:
    """What each speed setting buys at the first size: the product with one setting off at a time."""
    size, plain, product = measured.rows[0]
    if args.smoke or args.no_ablation or plain is None:
        return
    repeats = args.repeats or (3 if size <= 512 else 1)
    measured.ablation = [("plain fp32, torch.no_grad", plain)]
    variants = [("fp32-channels-last", "inference_mode + channels-last, fp32")]
    if product["precision"] != "32-true":  # where bf16 is emulated the product runs fp32, and bf16 would take hours
        variants.append(("bf16-contiguous", "inference_mode + bf16 autocast, contiguous"))
    for variant, label in variants:
        measured.ablation.append((label, _spawn("worker", args, size=size, variant=variant, repeats=repeats, warmup=int(size <= 1024))))
    measured.ablation.append((f"product: inference_mode + channels-last + {product['precision']}", product))


def _print_main_table(args: argparse.Namespace, measured: Measurements, tiled_from: int) -> None:
    import torch

    from benchmarks.common import describe_machine

    first = measured.rows[0][2]
    print(f"\n{describe_machine(torch.device(args.device))}")
    print(
        f"\nclipstyler-fast predict benchmark on {args.device} ({first['threads']} threads), full-size networks ({args.encoder} encoder), random He-initialised weights"
    )
    print(f"precision: plain 32-true, product {first['precision']} (auto); tiles above {args.tile_above or 'default'} pixels\n")
    print("| image | plain fp32 images/s | product images/s | speed-up | plain peak RSS | product peak RSS | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    for size, plain, product in measured.rows:
        label = f"{size}x{size}" + (" tiled" if size >= tiled_from else "")
        p_rate = 1 / product["seconds"]
        if plain is None:
            print(f"| {label} | not run (--plain-4096) | {p_rate:.3f} | - | - | {_fmt_mib(product['peak_rss_mib'])} | - |")
            continue
        b_rate = 1 / plain["seconds"]
        print(
            f"| {label} | {b_rate:.3f} | {p_rate:.3f} | {p_rate / b_rate:.2f}x | {_fmt_mib(plain['peak_rss_mib'])} | "
            f"{_fmt_mib(product['peak_rss_mib'])} | {product['peak_rss_mib'] / plain['peak_rss_mib']:.2f} |"
        )


def _print_check_and_ablation(measured: Measurements) -> None:
    check, ablation = measured.check, measured.ablation
    print(
        f"\nproduct vs plain fp32 on a {check['size']}x{check['size']} photo-like image ({check['precision']}): "
        f"max |diff| = {check['max_rel']:.4f}, mean |diff| = {check['mean_rel']:.5f} of the output's value range"
    )
    if ablation:
        size = measured.rows[0][0]
        print(f"\nwhat each setting buys at {size}x{size}:\n")
        print("| setting | images/s | vs plain |")
        print("|---|---|---|")
        for label, result in ablation:
            print(f"| {label} | {1 / result['seconds']:.3f} | {ablation[0][1]['seconds'] / result['seconds']:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker or args.numerics:
        return _measure_in_this_process(args)
    sizes = args.sizes
    tiled_from = 4096
    if args.smoke:
        # One tiny size, through the tiled path as 4096 is in the full run.
        sizes, tiled_from = [64], 64
        args.tile_above, args.tile_size, args.tile_overlap = 48 * 48, 32, 8
    started = time.perf_counter()
    measured = Measurements()
    _measure_sizes(args, sizes, started, measured)
    measured.check = _spawn("numerics", args, size=32 if args.smoke else 512)
    _measure_ablation(args, measured)
    _print_main_table(args, measured, tiled_from)
    if measured.student_rows:
        _print_student_table(measured.rows, measured.student_rows, tiled_from)
    if measured.any_prompt_rows:
        _print_any_prompt_table(measured.rows, measured.any_prompt_rows, tiled_from)
    _print_check_and_ablation(measured)
    first = measured.rows[0][2]
    print(
        f"\n(peak RSS includes the Python process, torch and the weights: about {_fmt_mib(first['base_rss_mib'])} before the first forward pass)"
    )
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
