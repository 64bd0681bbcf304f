"""The ``clipstyler-fast`` command: one entry point, the usage text, and the one place where a
user error becomes ``error: <message>`` and exit status 2."""

from __future__ import annotations

import importlib
import sys
import warnings

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

examples:
  clipstyler-fast fit --config configs/default.yaml --model.prompt "a watercolor painting"
  clipstyler-fast predict --ckpt_path checkpoints/a-watercolor-painting/style.ckpt --data.path photos/ --output.dir stylized/

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
    quiet_known_warnings()
    from clipstyler_fast.errors import ClipstylerError

    try:
        module = importlib.import_module(f"clipstyler_fast.cli.{COMMANDS[command]}")
        return int(module.main(argv if COMMANDS[command] == "training" else rest) or 0)
    except ClipstylerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
