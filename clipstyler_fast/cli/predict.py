"""``clipstyler-fast predict``: stylize folders of images with a trained style checkpoint.

A LightningCLI limited to the ``predict`` subcommand::

    clipstyler-fast predict --ckpt_path checkpoints/mosaic/style.ckpt --data.path photos/ --output.dir stylized/

Exit status: 0 when every image was stylized (or already existed), 1 when some inputs failed
(they are listed in ``<output.dir>/failures.tsv``), 2 for a usage, checkpoint or folder error.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from clipstyler_fast.cli import options
from clipstyler_fast.cli.flags import spoken
from clipstyler_fast.cli.lightning_common import CKPT_PATH_HELP, DESCRIPTIONS, settle_trainer_precision
from clipstyler_fast.cli.option_table import check_config
from clipstyler_fast.cli.predict_progress import ImageRateProgressBar
from clipstyler_fast.errors import CheckpointError, DataError
from clipstyler_fast.infer.predict.data import PredictDataModule
from clipstyler_fast.infer.predict.module import StylizerModule
from clipstyler_fast.infer.predict.writer import StylizedImageWriter, check_output_folder
from clipstyler_fast.infer.stylizer import DEFAULT_TILE_ABOVE, DEFAULT_TILE_OVERLAP, DEFAULT_TILE_SIZE
from clipstyler_fast.train.run_folder import slugify


class PredictTrainer(Trainer):
    """How and where to run (device, precision, steps, logging)"""

    # The docstring titles the trainer's options in the help.


# predict's own options, each handed to the model or the data module.
LINKED = {
    **{
        name: f"model.{name}"
        for name in ("prompt", "postprocess", "strength", "preserve_colors", "tile_size", "tile_overlap", "tile_above")
    },
    "size": "data.long_side",
}


class PredictCLI(LightningCLI):
    """LightningCLI for ``predict`` only: model = :class:`StylizerModule`, data = :class:`PredictDataModule`,
    outputs = :class:`StylizedImageWriter` (``--output.*``)."""

    def __init__(self, args: list[str], prompt_folders: bool = False) -> None:
        # With --prompt, outputs go to <output.dir>/<prompt-slug>/, one folder per prompt.
        self.prompt_folders = prompt_folders
        super().__init__(
            StylizerModule,
            PredictDataModule,
            trainer_class=PredictTrainer,
            trainer_defaults={
                "logger": False,
                "enable_checkpointing": False,
                "enable_model_summary": False,
                # Batches are dealt out to processes by PredictDataModule, each image exactly once.
                "use_distributed_sampler": False,
            },
            seed_everything_default=False,
            save_config_callback=None,
            parser_kwargs={"prog": "clipstyler-fast", "predict": {"description": DESCRIPTIONS["predict"]}},
            auto_configure_optimizers=False,
            args=args,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # The checkpoint is an option of this command (handed to the model), not of Trainer.predict.
        return {"predict": {"model", "dataloaders", "datamodule", "return_predictions", "weights_only", "ckpt_path"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument_group("Checkpoint").add_argument("--ckpt_path", type=str | None, default=None, help=CKPT_PATH_HELP["predict"])
        # One way to give the checkpoint: --ckpt_path, handed to the model.
        parser.link_arguments("ckpt_path", "model.checkpoint")
        parser.add_lightning_class_args(StylizedImageWriter, "output")
        # --output (a file of options for the writer) names the one file written in every other
        # command; predict writes a folder (--output.dir), and refuses it (cli/option_table.py).
        next(a for a in parser._actions if "--output" in a.option_strings).help = argparse.SUPPRESS
        parser.add_argument(
            "--prompt",
            type=str | None,
            default=None,
            help="the style, in words, for an any-prompt checkpoint; repeat it for several styles in one run "
            "(outputs go to one folder per prompt under --output.dir)",
        )
        parser.add_argument(
            "--postprocess",
            type=Literal["clamp", "contrast", "none"],
            default="clamp",
            help="clamp outputs to [0, 1] (default), the reference's contrast boost with min-max scaling, or none (raw output)",
        )
        parser.add_argument(
            "--size",
            type=int | None,
            default=None,
            help="resize every image so its longer side has this many pixels (aspect ratio kept); default: own size",
        )
        parser.add_argument(
            "--strength",
            type=float,
            default=1.0,
            help="how much of the style, in [0, 1]: 0 writes the photos unchanged, 1 the full style (default), "
            "in between the blend photo + strength * (stylized - photo)",
        )
        parser.add_argument(
            "--preserve_colors",
            type=bool,
            default=False,
            help="keep each photo's colours: the style's luminance with the photo's chroma (YCbCr)",
        )
        parser.add_argument("--tile_size", type=int, default=DEFAULT_TILE_SIZE, help="tile side for large images (multiple of 8)")
        parser.add_argument("--tile_overlap", type=int, default=DEFAULT_TILE_OVERLAP, help="overlap of neighbouring tiles (multiple of 8)")
        parser.add_argument("--tile_above", type=int, default=DEFAULT_TILE_ABOVE, help="stylize images with more pixels than this in tiles")
        for option, target in LINKED.items():
            parser.link_arguments(option, target)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Checked in before_instantiate_classes, after the folders, and read by the model only:
        # Lightning would otherwise load the file right after parsing to take options from it.
        config = self.config[self.config.subcommand]
        self.ckpt_path: str | None = config.get("ckpt_path")
        config.ckpt_path = None

    def before_instantiate_classes(self) -> None:
        config = self.config[self.config.subcommand]
        # Option values (from --config files too), before the folders and the checkpoint.
        check_config("predict", config)
        # Folder problems are reported before any network is loaded.
        paths = config.data.path
        roots = [Path(p).expanduser() for p in ([paths] if isinstance(paths, str) else paths)]
        for root in roots:
            if not root.exists():
                raise DataError(f"{root}: no such file or folder; pass an image folder or image files with --data.path")
        if self.prompt_folders and config.get("prompt"):
            config.output.dir = str(Path(config.output.dir) / slugify(config.prompt))
        check_output_folder(Path(config.output.dir), roots)
        if not self.ckpt_path:
            raise CheckpointError("no style checkpoint given; pass --ckpt_path checkpoints/<style>/style.ckpt")
        settle_trainer_precision(config.trainer)

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        trainer = self.config_init[self.config_init.subcommand]["trainer"]
        given = list(trainer.get("callbacks") or [])
        if trainer.get("enable_progress_bar", True) is not False and not any(isinstance(c, ProgressBar) for c in given):
            kwargs["callbacks"] = [*given, ImageRateProgressBar()]
        return super().instantiate_trainer(**kwargs)

    def predict(self, model: LightningModule, datamodule: LightningDataModule, ckpt_path: str | None = None, **kwargs: Any) -> None:
        # The model has already loaded the checkpoint; Lightning's own loading would expect the
        # training module's layout.
        self.trainer.predict(model, datamodule=datamodule, return_predictions=False)


class _LinesClearOfBars:
    """``sys.stderr`` while predicting: a ``failed: ...`` line printed by the image writer goes out
    through tqdm, on a line of its own instead of glued to the progress bar, naming this command's options."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._busy = False
        self._swallow_newline = False

    def write(self, text: str) -> int:
        if self._swallow_newline and text == "\n":
            self._swallow_newline = False
            return len(text)
        self._swallow_newline = False
        if text.startswith(("failed: ", "warning: ")):  # the image writer's lines name the library's parameters
            text = spoken("predict", text)
        if self._busy or not text.startswith("failed: "):
            return self._stream.write(text)
        from tqdm import tqdm

        self._busy = True
        try:
            tqdm.write(text.rstrip("\n"), file=self)
        finally:
            self._busy = False
        self._swallow_newline = not text.endswith("\n")  # print() sends its line end separately
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str]) -> int:
    """``clipstyler-fast predict [options]``; returns 0, 1 when some inputs failed, 2 on errors."""
    # Lightning advice that does not apply to this command. The batch sampler is ours on purpose:
    # equal sizes together, every image exactly once.
    warnings.filterwarnings("ignore", message=".*You are using a custom batch sampler.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers which may be a bottleneck.*")
    # A re-run whose outputs all exist has nothing left to do; the summary line says so.
    warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
    prompts, rest = options.take_repeated(argv, "--prompt")
    runs = [[*rest, "--prompt", prompt] for prompt in prompts] or [rest]
    failed = False
    for args in runs:  # one pass over the inputs per prompt, each into its own folder
        stderr, sys.stderr = sys.stderr, _LinesClearOfBars(sys.stderr)
        try:
            cli = PredictCLI(["predict", *args], prompt_folders=bool(prompts))
        except SystemExit as done:  # --help, --print_config, or an option error (already printed)
            return done.code if isinstance(done.code, int) else 0 if done.code is None else 2
        finally:
            sys.stderr = stderr
        writer = next(c for c in cli.trainer.callbacks if isinstance(c, StylizedImageWriter))
        failed = failed or bool(writer.summary.failed)
    return 1 if failed else 0
