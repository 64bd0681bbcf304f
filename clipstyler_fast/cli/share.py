"""``clipstyler-fast share``: write a style as a folder other tools and the Hugging Face Hub read:
``model.safetensors``, ``config.json``, a model card ``README.md`` and ``preview.jpg``."""

from __future__ import annotations

import argparse
from pathlib import Path

from clipstyler_fast.cli import options, values

PREVIEW_PHOTOS = 4


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "share",
        "Write a style (style.ckpt, an any-prompt style.ckpt or a distilled student.ckpt) as a folder to share as people "
        "share models: model.safetensors (the weights), config.json (what they are), README.md (a model card) and "
        "preview.jpg (photos above their stylizations). Every command loads the folder with --ckpt_path FOLDER, and "
        "once uploaded (hf upload USER/NAME FOLDER .) with --ckpt_path hf://USER/NAME. Nothing is uploaded here.",
        [
            "clipstyler-fast share --ckpt_path checkpoints/mosaic/style.ckpt --output.dir styles/mosaic/",
            "clipstyler-fast share --ckpt_path checkpoints/mosaic/style.ckpt --output.dir styles/mosaic/ --repo_id me/mosaic --data.path photos/",
            'clipstyler-fast share --ckpt_path checkpoints/any-prompt/style.ckpt --output.dir styles/any/ --prompt "a linocut print" --prompt neon',
            "hf upload me/mosaic styles/mosaic/ .",
        ],
    )
    options.add_checkpoint(parser, help="the style: style.ckpt, student.ckpt, a shared folder or hf://user/name")
    options.add_output_dir(parser, "the folder to write (model.safetensors, config.json, README.md, preview.jpg)")
    parser.add_argument(
        "--output.overwrite",
        dest="overwrite",
        type=values.FLAG,
        nargs="?",
        const=True,
        default=False,
        help="replace a shared style already in --output.dir: alone or with true, false (default false)",
    )
    parser.add_argument(
        "--data.path",
        dest="data_path",
        nargs="+",
        default=None,
        help=f"photos for the preview (files or folders; the first {PREVIEW_PHOTOS}); default: the training run's held-out "
        "photos when its folder and photos are on this machine, else built-in synthetic images",
    )
    parser.add_argument(
        "--prompt",
        action="append",
        default=[],
        help="for an any-prompt checkpoint: a prompt to show in the preview (repeatable; default: the first 3 of its bank)",
    )
    parser.add_argument("--model.clip_model", dest="clip_model", help=options.CLIP_MODEL_HELP)
    parser.add_argument("--repo_id", help="the Hub repository you will publish to (user/name), written into the card's commands")
    options.add_vgg_weights(parser)
    options.add_device(parser)
    return parser


def run_held_out_photos(ckpt_path: str) -> list[Path]:
    """The held-out photos of the ``fit`` or ``distill`` run that wrote ``ckpt_path``, chosen as that
    run chose them; empty when the run's ``config.yaml`` or its photos are not on this machine."""
    path = Path(ckpt_path).expanduser()
    config_file = path.parent / "config.yaml"
    if ckpt_path.startswith("hf://") or not path.is_file() or not config_file.is_file():
        return []
    import yaml

    from clipstyler_fast.errors import ClipstylerError
    from clipstyler_fast.train.data import ContentDataModule

    try:
        data = (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("data") or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return []
    if not isinstance(data, dict) or not data.get("path") or not Path(str(data["path"])).expanduser().exists():
        return []
    kept = {k: data[k] for k in ("path", "num_holdout", "holdout_path", "seed", "max_pixels") if k in data}
    module = ContentDataModule(**kept, num_workers=0)
    try:
        module.setup("fit")
    except ClipstylerError:
        return []
    return module.holdout_paths


def main(argv: list[str]) -> int:
    """``clipstyler-fast share``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.errors import DataError
    from clipstyler_fast.infer.share import share_style

    # The photos of the preview, and how the card describes them.
    if args.data_path:
        from clipstyler_fast.io.images import list_images

        photos = [photo for root in args.data_path for photo in list_images(root)][:PREVIEW_PHOTOS]
        if not photos:
            raise DataError(
                f"{' '.join(args.data_path)}: no images found for the preview; pass image files or a folder of them with --data.path"
            )
        label = "photos given to share"
    else:
        photos, label = run_held_out_photos(args.ckpt_path), "held-out photos of the training run"
    written = share_style(
        args.ckpt_path,
        args.output_dir,
        photos=photos,
        photos_label=label,
        prompts=args.prompt,
        clip_model=args.clip_model,
        vgg_weights=args.vgg_weights,
        device=options.resolve(args),
        repo_id=args.repo_id,
        overwrite=args.overwrite,
    )
    folder = Path(args.output_dir)
    print(f"wrote {folder}: {', '.join(path.name for path in written)}")
    print(f"fill in the license in {folder / 'README.md'}, then publish it with: hf upload {args.repo_id or 'USER/NAME'} {folder} .")
    return 0
