"""The ``clipstyler-fast`` command: LightningCLI for fit/validate/pretrain, plus the tools."""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from .checkpoints import CheckpointError, SafeCheckpointIO, check_format, load_checkpoint_file, slugify
from .data import ContentDataModule, DataError
from .images import ImageReadError
from .model import StyleTransfer
from .pretrain import DecoderPretraining
from .training_checkpoint import StyleCheckpoint
from .weights import WeightsUnavailableError

# Commands implemented outside LightningCLI's fit/validate: name -> module with main(argv) -> int.
TOOLS = {
    "predict": "predict_cli",
    "evaluate": "evaluate",
    "interpolate": "interpolate",
    "video": "video",
    "export": "export",
}

USER_ERRORS = (DataError, WeightsUnavailableError, CheckpointError, ImageReadError)

USAGE = """usage: clipstyler-fast COMMAND [options]

Text-driven fast style transfer: train a style network for a text prompt once, then stylize
any number of images with it in milliseconds.

commands:
  fit          train a style network for a prompt
  validate     losses of a checkpoint on held-out images
  predict      stylize images or folders with a checkpoint
  pretrain     pre-train the decoder once (image reconstruction)
  evaluate     quality metrics of stylized images against their contents
  interpolate  blend two style checkpoints into a new one
  video        stylize a video file frame by frame
  export       write the inference network as TorchScript and ONNX

examples:
  clipstyler-fast fit --config configs/default.yaml --model.prompt "a watercolor painting"
  clipstyler-fast predict --ckpt_path checkpoints/a-watercolor-painting/style.ckpt --data.path photos/ --output.dir stylized/

Run `clipstyler-fast COMMAND --help` for the options of a command.
"""


class SaveConfigWithCheckpoints(SaveConfigCallback):
    """Write the run's full configuration as ``config.yaml`` beside its checkpoints, so that a
    checkpoint folder says how it was made (and a run without a logger leaves nothing in the
    working folder)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["save_to_log_dir"] = False
        super().__init__(*args, **kwargs)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Nothing yet: the file is written when training starts (:meth:`on_train_start`)."""

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # Not in setup: the checkpoint callback first checks that its folder can be written and
        # holds no earlier run, and its refusal must leave that run's config.yaml untouched.
        super().setup(trainer, pl_module, "fit")

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        callback = trainer.checkpoint_callback
        if stage != "fit" or callback is None or callback.dirpath is None or not trainer.is_global_zero:
            return
        folder = Path(callback.dirpath)
        folder.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, folder / self.config_filename, skip_none=False, overwrite=True, multifile=False)


class _TrainingCLI(LightningCLI):
    """Shared behaviour: safe atomic checkpoint I/O, and checkpoint errors reported in one line."""

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        if not self._get(self.config_init, "trainer", default={}).get("plugins"):
            kwargs.setdefault("plugins", [SafeCheckpointIO()])
        return super().instantiate_trainer(**kwargs)

    def _parse_ckpt_path(self) -> None:
        """Take the model's hyperparameters from a given checkpoint file, as LightningCLI does, but
        validate the file first (one-line errors instead of traces) and let options the user set
        explicitly win over the checkpoint's (e.g. a local weight path on another machine)."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        path = self.config[subcommand].get("ckpt_path")
        if not path or path in ("last", "best", "hpc", "registry"):
            return
        checkpoint = load_checkpoint_file(path)
        meta = check_format(checkpoint, path)
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        hparams.pop("_class_path", None)
        if not hparams:
            return
        # Checkpoints of format 1 predate the encoder option: the migrated metadata names theirs.
        hparams.setdefault("encoder", meta["encoder"])
        defaults = self._parser(subcommand).get_defaults().get("model") or {}
        current = self.config[subcommand].get("model") or {}
        for key, value in current.items():
            if key in hparams and value != defaults.get(key):
                hparams[key] = value
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def after_instantiate_classes(self) -> None:
        """Tell the module whether this run resumes (known here from the options, in the
        module only after its setup), so that its setup settles every weight file the run
        needs at once: offline, all missing files are reported in one message."""
        super().after_instantiate_classes()
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        ckpt_path = config.get("ckpt_path")
        resumes = ckpt_path is not None and (ckpt_path != "last" or self._last_checkpoint(config).is_file())
        self.model.resumes = resumes or subcommand != "fit"

    @staticmethod
    def namespace_to_dict(namespace: Any) -> dict[str, Any]:
        return dict(namespace.as_dict() if hasattr(namespace, "as_dict") else namespace or {})

    def _last_checkpoint(self, config: Any) -> Path:
        """Where ``--ckpt_path last`` looks: the run folder's ``last.ckpt``."""
        checkpoint = self.namespace_to_dict(config.get("checkpoint"))
        prompt = self.namespace_to_dict(config.get("model")).get("prompt")
        folder = Path(checkpoint.get("root") or "checkpoints") / (slugify(prompt) if prompt else "pretrain")
        return folder / "last.ckpt"


class StyleCLI(_TrainingCLI):
    """``fit`` and ``validate`` of a per-prompt style network."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            StyleTransfer,
            ContentDataModule,
            trainer_defaults={
                "max_steps": 200,
                # Held-out losses every 50 steps, counted across the (short) epochs.
                "val_check_interval": 50,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": 10,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            parser_kwargs={"prog": "clipstyler-fast"},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {
            "fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"},
            "validate": {"model", "dataloaders", "datamodule"},
        }

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")
        parser.link_arguments("model.prompt", "checkpoint.prompt")


class PretrainCLI(_TrainingCLI):
    """``pretrain``: fit of the decoder reconstruction model."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            DecoderPretraining,
            ContentDataModule,
            trainer_defaults={
                "max_steps": 10000,
                "val_check_interval": 1000,
                "check_val_every_n_epoch": None,
                "log_every_n_steps": 50,
            },
            save_config_callback=SaveConfigWithCheckpoints,
            parser_kwargs={"prog": "clipstyler-fast pretrain"},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(StyleCheckpoint, "checkpoint")


def quiet_known_warnings() -> None:
    """Hide third-party warnings that say nothing actionable to a user of this command."""
    # The arguments are always handed to LightningCLI explicitly (a sub-command may rewrite them).
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*")
    warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    # Frozen CLIP and VGG stay in eval mode on purpose.
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``clipstyler-fast`` console command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_known_warnings()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command in ("fit", "validate"):
            StyleCLI(args=argv)
        elif command == "pretrain":
            PretrainCLI(args=["fit", *rest])
        elif command in TOOLS:
            module = importlib.import_module(f".{TOOLS[command]}", __package__)
            return int(module.main(rest) or 0)
        else:
            print(f"clipstyler-fast: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
            return 2
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
