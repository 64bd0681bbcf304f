"""``clipstyler-fast optimize``: CLIPstyler's per-image mode, one network optimised for each photo."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from clipstyler_fast.cli import options, values

# Defaults of the published recipe (configs/optimize.yaml holds the same values), and what each may be.
RECIPE: dict[str, tuple[float, values.Rule]] = {
    "lambda_patch": (9000.0, values.WEIGHT),
    "lambda_dir": (500.0, values.WEIGHT),
    "lambda_content": (150.0, values.WEIGHT),
    "lambda_tv": (2e-3, values.WEIGHT),
    "num_patches": (64, values.POSITIVE),
    "patch_size": (128, values.POSITIVE),
    "distortion": (0.5, values.UNIT),
    "threshold": (0.7, values.number()),
    "lr": (5e-4, values.LEARNING_RATE),
    "lr_step": (100, values.POSITIVE),
    "lr_gamma": (0.5, values.number(above=0)),
}
PRECISION = values.Rule("choice", choices=("32-true", "bf16-mixed", "16-mixed"))

# (flag, dest, rule, default, help) of the options that take one plain value.
SETTINGS: list[tuple[str, str, values.Rule, object, str]] = [
    ("--model.source_text", "source_text", values.TEXT, "a Photo", "the source text of the direction"),
    ("--model.clip_model", "clip_model", values.TEXT, options.DEFAULT_CLIP, "CLIP model name or local file"),
    ("--model.clip_download_root", "clip_download_root", values.TEXT, None, "folder for downloaded CLIP files (default ~/.cache/clip)"),
    ("--model.vgg_weights", "vgg_weights", values.TEXT, "auto", "torchvision's ImageNet VGG-19: auto (downloaded once) or a local file"),
    (
        "--model.init_from",
        "init_from",
        values.TEXT,
        None,
        "start every photo from this trained style (style.ckpt, an any-prompt one for --model.prompt, or student.ckpt) "
        "instead of a fresh U-Net: its decoder is optimised, its encoder stays frozen",
    ),
    *[(f"--model.{k}", k, rule, v, k.replace("_", " ")) for k, (v, rule) in RECIPE.items()],
    ("--model.unet_width", "unet_width", values.POSITIVE, 16, "the U-Net's base width (ngf)"),
    ("--data.size", "size", values.POSITIVE, 512, "long side each photo is resized to, aspect kept, sides rounded to multiples of 8"),
    ("--data.square", "square", values.FLAG, False, "resize every photo to --data.size x --data.size, as the published code does"),
    ("--output.every", "every", values.NON_NEGATIVE, 0, "also save the output every N steps as NAME_stepN.png (0: only the last)"),
    ("--output.overwrite", "overwrite", values.FLAG, False, "redo photos whose output exists (false: skip them, so a stopped run goes on)"),
    (
        "--trainer.max_steps",
        "steps",
        values.NON_NEGATIVE,
        200,
        "optimisation steps per photo (the loop runs steps + 1 iterations, as published)",
    ),
    ("--trainer.precision", "precision", PRECISION, "32-true", "32-true (as published), bf16-mixed or 16-mixed"),
    ("--seed_everything", "seed", values.whole(), 0, "seed of every photo's start, crops and warps (with its path)"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "optimize",
        "Stylize each photo by optimising a network for it, CLIPstyler's own mode: a small U-Net per photo, "
        "trained for --trainer.max_steps steps (200) with the patch-wise CLIP loss over 64 random crops, the "
        "global directional loss, a VGG-19 content loss and total variation. Minutes per photo on a GPU, where "
        "a style trained with fit stylizes a photo in milliseconds; the textures are the paper's. "
        "--model.init_from starts every photo from a trained style instead of a fresh U-Net. "
        "Sub-folders and names are kept; a photo whose output exists is skipped, so a stopped run goes on where it stopped.",
        [
            'clipstyler-fast optimize --config configs/optimize.yaml --model.prompt "fire" --data.path photos/ --output.dir out/',
            'clipstyler-fast optimize --model.prompt "a mosaic" --data.path face.jpg --output.dir out/ --data.size 768',
            "clipstyler-fast optimize --model.prompt mosaic --model.init_from checkpoints/mosaic/style.ckpt "
            "--data.path photos/ --output.dir out/ --trainer.max_steps 50",
        ],
    )
    parser.add_argument(
        "--config", metavar="YAML", help="a YAML file of these options (model:, data:, output:, trainer:); flags after it win"
    )
    parser.add_argument("--model.prompt", dest="prompt", required=True, help="the style, in words")
    options.add_data_path(parser, "photo files or folders (searched recursively)", many=True)
    options.add_output_dir(parser, "folder for the stylized photos (PNG), sub-folders kept")
    for flag, dest, rule, default, text in SETTINGS:
        if rule.kind == "bool":
            options.add_flag(parser, flag, bool(default), text, dest=dest)
            continue
        shown = "" if default is None else f" (default {default:g})" if isinstance(default, float) else f" (default {default})"
        parser.add_argument(flag, dest=dest, type=rule, default=default, help=text + shown)
    options.add_postprocess(parser, help="contrast (default: the published x1.5 contrast and min-max scaling) or clamp")
    parser.set_defaults(postprocess="contrast")
    options.add_device(parser, progress=True)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; a ``--config`` YAML file gives options that flags after it override."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, rest = pre.parse_known_args(argv)
    if not known.config:
        return build_parser().parse_args(rest)
    from clipstyler_fast.cli.option_table import checked_arguments

    # The file's values pass the checks the command line passed in clipstyler_fast.cli.main.
    return build_parser().parse_args([*checked_arguments("optimize", config_arguments(Path(known.config))), *rest])


def config_arguments(path: Path) -> list[str]:
    """A YAML config (``model: {prompt: ...}``, ...) as the flags it stands for, to put first."""
    import yaml

    from clipstyler_fast.errors import DataError

    try:
        data = yaml.safe_load(path.expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise DataError(f"{path}: cannot read the config ({error}); pass a YAML file to --config") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a config of groups (model:, data:, output:, trainer:); pass a YAML mapping to --config")
    flags: list[str] = []
    for group, settings in data.items():
        for key, value in settings.items() if isinstance(settings, dict) else [(None, settings)]:
            if value is None:
                continue
            flags.append(f"--{group}.{key}" if key is not None else f"--{group}")
            items = value if isinstance(value, list) else [value]
            flags += [str(item).lower() if isinstance(item, bool) else str(item) for item in items]
    return flags


def main(argv: list[str]) -> int:
    """``clipstyler-fast optimize``; returns the exit status."""
    args = parse(argv)
    from clipstyler_fast.train.per_image_run import PerImageJob, run_job

    # The job's fields are the options' names; the rest are mapped here.
    plain = {f.name: getattr(args, f.name) for f in fields(PerImageJob) if hasattr(args, f.name)}
    job = PerImageJob(
        **{
            **plain,
            "recipe": {name: getattr(args, name) for name in RECIPE},
            "inputs": [Path(p) for p in args.data_path],
            "output_dir": Path(args.output_dir),
            "device": options.device_name(args.accelerator, args.devices),
        }
    )
    summary = run_job(job, warn=lambda line: print(f"warning: {line}", file=sys.stderr))
    print(summary)
    return 0
