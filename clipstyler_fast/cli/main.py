"""The ``clipstyler-fast`` command: one entry point, the usage text, and the one place where a
user error becomes ``error: <message>`` and exit status 2."""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from clipstyler_fast.cli.flags import spoken
from clipstyler_fast.cli.help import COMMANDS as LIGHTNING_COMMANDS  # their --help text ships as files

# Every command: name -> module under clipstyler_fast.cli with main(argv) -> int. Imported only
# when the command runs, so that `clipstyler-fast --help` starts in a blink.
COMMANDS = {
    "fit": "training",
    "validate": "training",
    "pretrain": "training",
    "predict": "predict",
    "evaluate": "evaluate",
    "interpolate": "interpolate",
    "video": "video",
    "export": "export",
    "share": "share",
    "demo": "demo",
    "distill": "distill",
    "optimize": "optimize",
}


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
  share        write a style as a folder to share (safetensors, config, model card, preview)
  demo         a web page to stylize photos with your checkpoints (localhost)
  distill      train a small, many times faster student network that reproduces a style
  optimize     stylize each photo by optimising a network for it (CLIPstyler's per-image mode)

examples:
  clipstyler-fast fit --config configs/default.yaml --model.prompt "a watercolor painting"
  clipstyler-fast predict --ckpt_path checkpoints/a-watercolor-painting/style.ckpt --data.path photos/ --output.dir stylized/
  clipstyler-fast share --ckpt_path checkpoints/a-watercolor-painting/style.ckpt --output.dir styles/watercolor/
  clipstyler-fast predict --ckpt_path hf://user/watercolor --data.path photos/ --output.dir stylized/
  clipstyler-fast demo --ckpt_dir checkpoints/

Run `clipstyler-fast COMMAND --help` for the options of a command.
"""


def quiet_known_warnings() -> None:
    """Hide third-party warnings that say nothing actionable to a user of this command."""
    # The arguments are always handed to LightningCLI explicitly (a sub-command may rewrite them).
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*")
    warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    # Frozen CLIP and VGG stay in eval mode on purpose.
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")


_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
# Lightning's start-up chatter: which accelerators exist, and adverts for its cloud services.
_LIGHTNING_CHATTER = (
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "IPU available:",
    "💡 Tip:",
    "LOCAL_RANK:",
    "`Trainer.fit` stopped:",
)


def show_product_warning(
    message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None, *, command: str = ""
) -> None:
    """``warnings.showwarning`` for ``command``: the product's own warnings as one ``warning: <message>``
    line (clear of any progress bar), naming the command's options; other packages' warnings as Python shows them."""
    if not str(filename).startswith(_PACKAGE_DIR):
        _show_warning(message, category, filename, lineno, file, line)
        return
    text = f"warning: {spoken(command, str(message))}"
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr)


def quiet_lightning_chatter() -> None:
    """Drop Lightning's accelerator survey and adverts from every command's output."""
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.pytorch.trainer.connectors.logger_connector.logger_connector",
        "lightning.pytorch.trainer.connectors.callback_connector",
    ):
        logging.getLogger(name).addFilter(lambda record: not str(record.getMessage()).lstrip().startswith(_LIGHTNING_CHATTER))


_show_warning = warnings.showwarning
_DEFAULT_SHOW_IMPL = getattr(warnings, "_showwarnmsg_impl", None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``clipstyler-fast`` console command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"clipstyler-fast: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    if rest in (["--help"], ["-h"]) and command in LIGHTNING_COMMANDS:
        # Generated from the real parser (clipstyler_fast.cli.help), printed without loading it.
        from clipstyler_fast.cli.help import shipped

        print(shipped(command), end="")
        return 0
    from clipstyler_fast.cli.option_table import checked_arguments
    from clipstyler_fast.errors import ClipstylerError

    quiet_known_warnings()
    quiet_lightning_chatter()
    previous = warnings.showwarning
    if getattr(warnings, "_showwarnmsg_impl", None) is _DEFAULT_SHOW_IMPL:  # not while a caller records warnings
        warnings.showwarning = functools.partial(show_product_warning, command=command)
    try:
        # Every value the option table knows, checked before the command's module (torch,
        # Lightning) loads: a bad one costs a blink, not the seconds of those imports.
        rest = checked_arguments(command, rest)
        module = importlib.import_module(f"clipstyler_fast.cli.{COMMANDS[command]}")
        return int(module.main([command, *rest] if COMMANDS[command] == "training" else rest) or 0)
    except ClipstylerError as error:
        print(f"error: {spoken(command, str(error))}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = previous
        _close_process_group()


def _close_process_group() -> None:
    """Close the process group a multi-process command opened. Left open, gloo's threads still run
    when the interpreter exits, which aborts the process ("terminate called without an active exception")."""
    if "torch.distributed" not in sys.modules:  # nothing loaded it, so nothing opened one
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
