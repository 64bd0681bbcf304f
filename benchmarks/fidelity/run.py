"""Does the prompt show up in the image? Train each world style through the real CLI and judge it.

For every style of the synthetic world (``world.py``), this runs ``python -m clipstyler_fast fit``
with the small world CLIP, a VGG-19 weights file and a start decoder, then ``python -m
clipstyler_fast predict`` on held-out world photos, and prints the pixel judge's tables
(``judge.py``, never CLIP) next to what the training CLIP itself thinks of the outputs.

    python -m benchmarks.fidelity                                   # reference recipe, CPU-sized
    python -m benchmarks.fidelity --fit-args "--model.threshold 0.0" # compare a recipe change
    python -m benchmarks.fidelity --smoke                            # seconds-scale check of the script

The reference recipe (configs/default.yaml: 16 views, distortion 0.5, threshold 0.7, lambdas
1/10/1/1e-4, Adam 1e-4) is kept; only the crop (64 px, the world CLIP's input size), the batch
and the steps are scaled down for a CPU. ``--fit-args`` is appended last, so it overrides.
Missing weights are made: the CLIP is trained (``train_clip.py``), the VGG-19 gets seeded
random weights, the start decoder is trained to invert it (``start_decoder.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import judge, world, world_vgg  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    """Weight files and content folders of one fidelity run."""

    workdir: Path
    clip: Path
    vgg: Path
    decoder: Path
    train_dir: Path
    heldout_dir: Path
    log: list[str] = field(default_factory=list)


def _env() -> dict[str, str]:
    """The child's environment: this checkout's package first, known warnings quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_cli(args: list[str], cwd: Path, timeout: float | None = 3600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m clipstyler_fast ARGS``; raise with the tail of its output on failure (``timeout``: seconds, or None for no limit)."""
    command = [sys.executable, "-m", "clipstyler_fast", *args]
    result = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}")
    return result


# The reference recipe: the published fast-training loss weights, views, warps and learning rate.
REFERENCE_RECIPE = [
    "--model.lambda_content", "1.0", "--model.lambda_patch", "10.0", "--model.lambda_dir", "1.0", "--model.lambda_tv", "1e-4",
    "--model.num_views", "16", "--model.distortion", "0.5", "--model.threshold", "0.7", "--model.lr", "1e-4",
]  # fmt: skip


def fit_command(setup: Setup, style: str, steps: int, batch_size: int, crop_size: int, extra: list[str]) -> list[str]:
    """The ``fit`` arguments of one style: reference recipe, CPU-sized, then ``extra``."""
    prompt = ["--model.prompt", world.PROMPTS[style], "--model.source_text", world.SOURCE_TEXT]
    weights = [
        "--model.clip_model", str(setup.clip), "--model.encoder", world.ENCODER,
        "--model.vgg_weights", str(setup.vgg), "--model.decoder_init", str(setup.decoder),
    ]  # fmt: skip
    data = [
        "--data.path", str(setup.train_dir), "--data.crop_size", str(crop_size), "--data.batch_size", str(batch_size),
        "--data.num_workers", "0",
    ]  # fmt: skip
    trainer = [
        "--trainer.max_steps", str(steps), "--trainer.accelerator", "cpu", "--trainer.logger", "false",
        "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", str(setup.workdir / "runs" / style),
    ]  # fmt: skip
    outputs = ["--checkpoint.root", str(setup.workdir / "checkpoints"), "--checkpoint.overwrite", "true"]
    return [
        "fit",
        *prompt,
        *weights,
        *REFERENCE_RECIPE,
        "--model.preview_every_n_steps",
        "0",
        *data,
        "--seed_everything",
        "0",
        *trainer,
        *outputs,
        *extra,
    ]


def train_and_predict(
    setup: Setup, style: str, steps: int, batch_size: int = 4, crop_size: int = 64, extra: list[str] | None = None
) -> torch.Tensor:
    """Fit one style through the CLI, predict the held-out photos through the CLI, return the outputs."""
    start = time.time()
    run_cli(fit_command(setup, style, steps, batch_size, crop_size, list(extra or [])), cwd=setup.workdir)
    fitted = time.time()
    checkpoints = list((setup.workdir / "checkpoints").glob("*/style.ckpt"))
    ckpt = _checkpoint_of(checkpoints, world.PROMPTS[style])
    out_dir = setup.workdir / "predicted" / style
    predict_heldout(setup, ckpt, out_dir)
    setup.log.append(f"{style}: fit {fitted - start:.0f} s, predict {time.time() - fitted:.0f} s")
    return load_outputs(setup, out_dir)


def predict_heldout(setup: Setup, checkpoint: Path, out_dir: Path, extra: list[str] | None = None) -> None:
    """Stylize the held-out photos with ``checkpoint`` through ``python -m clipstyler_fast predict``
    (exact fp32 on the CPU) into ``out_dir``; ``extra`` options come last (``--prompt``, say)."""
    args = ["predict", "--ckpt_path", str(checkpoint), "--data.path", str(setup.heldout_dir), "--output.dir", str(out_dir)]
    args += ["--output.overwrite", "true", "--model.vgg_weights", str(setup.vgg), "--data.num_workers", "0"]
    args += ["--trainer.accelerator", "cpu", "--trainer.precision", "32-true", "--trainer.enable_progress_bar", "false"]
    run_cli([*args, *(extra or [])], cwd=setup.workdir)


def load_outputs(setup: Setup, folder: Path) -> torch.Tensor:
    """The stylized held-out photos in ``folder``, as one batch in the held-out photos' order."""
    return world.load_images([folder / p.name for p in sorted(setup.heldout_dir.glob("*.png"))])


def _checkpoint_of(checkpoints: list[Path], prompt: str) -> Path:
    """The style checkpoint whose recorded prompt is ``prompt`` (folder names are the CLI's business)."""
    for path in checkpoints:
        if torch.load(path, map_location="cpu", weights_only=True)["hyper_parameters"]["prompt"] == prompt:
            return path
    raise FileNotFoundError(f"no style.ckpt for {prompt!r} among {checkpoints}")


def heldout(setup: Setup) -> torch.Tensor:
    return world.load_images(sorted(setup.heldout_dir.glob("*.png")))


def decoder_only(setup: Setup, content: torch.Tensor) -> torch.Tensor:
    """``D0(E(x))``: what the start decoder alone makes of the held-out photos."""
    from clipstyler_fast.nets.decoder import build_decoder
    from clipstyler_fast.nets.decoder_init import load_decoder_weights
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    encoder = load_vgg_encoder(str(setup.vgg), world.ENCODER)
    decoder = build_decoder()
    load_decoder_weights(decoder, setup.decoder)
    with torch.no_grad():
        return decoder.eval()(encoder(content)).clamp(0, 1)


def clip_opinion(
    setup: Setup, outputs: dict[str, torch.Tensor], content: torch.Tensor, baseline: torch.Tensor
) -> dict[str, dict[str, float]]:
    """The training CLIP's directional similarity of each prompt's outputs (what training maximises).

    Also for the start decoder's outputs toward the same prompt: the bar a run must beat.
    """
    from clipstyler_fast.eval.metrics import directional_similarity
    from clipstyler_fast.nets.clip_model import load_clip
    from clipstyler_fast.objective import losses

    clip = load_clip(setup.clip)
    out: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        source = clip.encode_image(content)
        base = clip.encode_image(baseline)
        for name, images in outputs.items():
            style = name.split(":")[0]
            direction = losses.text_direction(clip.encode_text, world.PROMPTS[style], world.SOURCE_TEXT)
            out[name] = {
                "outputs": float(directional_similarity(clip.encode_image(images), source, direction).mean()),
                "decoder_only": float(directional_similarity(base, source, direction).mean()),
            }
    return out


def default_decoder_steps(vgg: Path | None) -> int:
    """Steps of the world VGG-19 and its decoder when none is given, or of a start decoder for ``vgg``."""
    return world_vgg.TRAIN_STEPS if vgg is None else 600


def prepare(
    workdir: Path,
    clip: Path | None,
    vgg: Path | None,
    decoder: Path | None,
    clip_steps: int,
    decoder_steps: int,
    train_photos: int,
    heldout_photos: int,
    photo_size: int,
) -> Setup:
    """Make whatever weights were not given, and the train and held-out photo folders.

    ``decoder_steps`` trains the world's VGG-19 with its decoder when no VGG is given, or a start
    decoder for the given VGG otherwise."""
    from benchmarks.fidelity import start_decoder, train_clip

    workdir.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    if clip is None:
        start = time.time()
        clip = train_clip.save(train_clip.train(clip_steps, log_every=0), workdir / "world-clip.pt")
        log.append(f"CLIP trained in {time.time() - start:.0f} s")
    if vgg is None:
        # The world's VGG-19 is trained as an autoencoder's encoder: its decoder is a start decoder.
        start = time.time()
        made = workdir / "start-decoder.pt"
        vgg = world_vgg.write_world_vgg(workdir / "vgg19-world.pth", made, decoder_steps)
        decoder = decoder or made
        log.append(f"world VGG-19 and start decoder trained in {time.time() - start:.0f} s")
    if decoder is None:
        start = time.time()
        decoder = workdir / "start-decoder.pt"
        torch.save(start_decoder.train_start_decoder(vgg, decoder_steps, log_every=0).state_dict(), decoder)
        log.append(f"start decoder trained in {time.time() - start:.0f} s")
    train_dir, heldout_dir = workdir / "content" / "train", workdir / "content" / "heldout"
    world.save_photos(train_dir, train_photos, photo_size, seed=100)
    world.save_photos(heldout_dir, heldout_photos, photo_size, seed=200, prefix="heldout")
    return Setup(workdir, clip, vgg, decoder, train_dir, heldout_dir, log)


def evaluate(setup: Setup, outputs: dict[str, torch.Tensor]) -> tuple[str, dict[str, object]]:
    """The judge's tables and the CLIP's opinion, as Markdown and as a JSON-able dict."""
    content = heldout(setup)
    baseline = decoder_only(setup, content)
    opinion = clip_opinion(setup, outputs, content, baseline)
    text = judge.format_tables(outputs, content, baseline)
    text += "\n\nThe training CLIP's directional similarity to each prompt (what training maximises), -1..1\n\n"
    text += "| prompt | its outputs | decoder-only outputs |\n| --- | ---: | ---: |\n"
    for name, value in opinion.items():
        text += f"| {name} | {value['outputs']:+.3f} | {value['decoder_only']:+.3f} |\n"
    data = {"shifts": judge.shifts(outputs, content, baseline), "matrix": judge.matrix(outputs, content, baseline), "clip": opinion}
    return text, data


def parse_styles(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """The comma-separated world styles of ``--styles`` (an unknown one is a usage error)."""
    styles = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(styles) - set(world.STYLES)
    if unknown:
        parser.error(f"unknown styles {sorted(unknown)}; choose from {', '.join(world.STYLES)}")
    return styles


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="where runs, weights and outputs go (default: a temporary folder)")
    parser.add_argument("--styles", default=",".join(world.STYLES), help=f"comma-separated, from {', '.join(world.STYLES)}")
    parser.add_argument("--steps", type=int, default=200, help="fit steps per style (the reference's 200)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop-size", type=int, default=64, help="training crop (64 = the world CLIP's input size)")
    parser.add_argument("--fit-args", default="", help='extra fit options, appended last (quoted), e.g. "--model.threshold 0.0"')
    parser.add_argument("--clip", type=Path, default=None, help="a world CLIP file (default: train one)")
    parser.add_argument("--clip-steps", type=int, default=300)
    parser.add_argument("--vgg", type=Path, default=None, help="VGG-19 weights file (default: the world's, world_vgg.py)")
    parser.add_argument("--decoder", type=Path, default=None, help="start decoder state dict (default: train one)")
    parser.add_argument(
        "--decoder-steps",
        type=int,
        default=None,
        help="steps of the world VGG-19 and its decoder when --vgg is not given (default: world_vgg.py's), "
        "or of a start decoder for the --vgg given (default: 600)",
    )
    parser.add_argument("--train-photos", type=int, default=24)
    parser.add_argument("--heldout-photos", type=int, default=12)
    parser.add_argument("--photo-size", type=int, default=96)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny everything: checks the script runs, measures nothing")
    return parser


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The options, ``--smoke``'s tiny sizes applied, and the styles they name."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.clip_steps, args.decoder_steps = 1, 5, 2
        args.train_photos, args.heldout_photos, args.photo_size = 4, 2, 64
        if args.styles == parser.get_default("styles"):
            args.styles = "red,stripes"
    if args.decoder_steps is None:
        args.decoder_steps = default_decoder_steps(args.vgg)
    return args, parse_styles(parser, args.styles)


def main(argv: list[str] | None = None) -> int:
    args, styles = _parse(argv)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="fidelity-") as scratch:
        workdir = (args.workdir or Path(scratch)).resolve()
        setup = prepare(
            workdir,
            args.clip,
            args.vgg,
            args.decoder,
            args.clip_steps,
            args.decoder_steps,
            args.train_photos,
            args.heldout_photos,
            args.photo_size,
        )
        extra = shlex.split(args.fit_args)
        outputs = {style: train_and_predict(setup, style, args.steps, args.batch_size, args.crop_size, extra) for style in styles}
        text, data = evaluate(setup, outputs)
    header = (
        f"fit: {args.steps} steps, batch {args.batch_size}, crop {args.crop_size}, reference recipe"
        + (f" + {args.fit_args}" if args.fit_args else "")
        + f"; {args.train_photos} training photos, {args.heldout_photos} held-out photos of {args.photo_size} px"
    )
    print(header + "\n" + "; ".join(setup.log) + "\n\n" + text)
    if args.json:
        args.json.write_text(json.dumps({"header": header, **data}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
