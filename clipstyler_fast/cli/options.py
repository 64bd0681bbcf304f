"""The options the commands share, spelled once.

Every command names a setting the way ``fit`` and ``predict`` (LightningCLI) do: the style
checkpoint is ``--ckpt_path``, encoder weights ``--model.vgg_weights``, images read
``--data.path``, a folder written ``--output.dir``, a single file written ``--output``, the device
``--trainer.accelerator``/``--trainer.devices``, and so on. The argparse tools build their
parsers from these helpers, so that they cannot drift apart.

This module imports no torch: ``clipstyler-fast COMMAND --help`` must start at once. Values the
library shares come from :mod:`clipstyler_fast.constants`; the few constants below mirror the ones
of modules that import torch (a test keeps them equal).
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from clipstyler_fast.cli import values
from clipstyler_fast.cli.values import parse_alphas as parse_alphas  # the one reader of alpha lists
from clipstyler_fast.constants import DEFAULT_ALPHAS as DEFAULT_ALPHAS
from clipstyler_fast.constants import DEFAULT_CLIP as DEFAULT_CLIP
from clipstyler_fast.constants import POSTPROCESS

EXPORT_POSTPROCESS = POSTPROCESS
EXPORT_FORMATS = ("torchscript", "onnx")
_OFFLINE_VGG = "local copy of the encoder weights the checkpoint was trained on, instead of the source it records (offline machines)"


def parser(command: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
    """An argparse parser for ``clipstyler-fast COMMAND`` with the common layout."""
    return argparse.ArgumentParser(
        prog=f"clipstyler-fast {command}",
        description=textwrap.fill(description),
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


ALPHAS_HELP = "comma-separated blend factors in [0, 1] (default 0,0.25,0.5,0.75,1)"


def add_checkpoint(p: argparse.ArgumentParser, required: bool = True, help: str = "style checkpoint (style.ckpt)") -> None:
    p.add_argument("--ckpt_path", required=required, help=help)


CLIP_MODEL_HELP = (
    "a local copy of the CLIP model the any-prompt checkpoint was trained with, for a prompt outside its bank "
    "(only its text tower runs, once per prompt; then cached); default: the one it records"
)


def add_prompt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", help="the style, in words, for an any-prompt checkpoint (fit --data.prompts FILE)")
    p.add_argument("--model.clip_model", dest="clip_model", help=CLIP_MODEL_HELP)


def add_vgg_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model.vgg_weights", dest="vgg_weights", default=None, help=_OFFLINE_VGG)


def add_postprocess(p: argparse.ArgumentParser, choices: tuple[str, ...] = POSTPROCESS, help: str | None = None) -> None:
    p.add_argument(
        "--postprocess",
        choices=choices,
        default="clamp",
        help=help or "clamp outputs to [0, 1] (default), the reference's contrast boost with min-max scaling, or none (raw output)",
    )


def add_flag(p: argparse.ArgumentParser, name: str, default: bool, help: str, dest: str | None = None) -> None:
    """A boolean option: ``--name`` alone for true, or ``--name true|false`` (also yes/no, 1/0), as
    in the LightningCLI commands."""
    p.add_argument(
        name,
        dest=dest or name.lstrip("-").replace(".", "_"),
        type=values.FLAG,
        nargs="?",
        const=True,
        default=default,
        help=f"{help}; alone or with true, false (default {str(default).lower()})",
    )


def add_size(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--size", type=values.POSITIVE, default=None, help=help)


def add_data_path(p: argparse.ArgumentParser, help: str, many: bool = False) -> None:
    p.add_argument("--data.path", dest="data_path", required=True, nargs="+" if many else None, help=help)


def add_output_dir(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--output.dir", dest="output_dir", required=True, help=help)


def add_output_file(p: argparse.ArgumentParser, help: str, required: bool = True) -> None:
    p.add_argument("--output", dest="output", required=required, help=help)


def add_device(p: argparse.ArgumentParser, progress: bool = False) -> None:
    """``--trainer.accelerator`` and ``--trainer.devices``, and with ``progress`` ``--trainer.enable_progress_bar``."""
    p.add_argument(
        "--trainer.accelerator",
        dest="accelerator",
        choices=("auto", "cpu", "gpu", "cuda", "mps"),
        default="auto",
        help="where to run: auto (a GPU when there is one), cpu, gpu/cuda, mps (default auto)",
    )
    p.add_argument(
        "--trainer.devices",
        dest="devices",
        default="auto",
        help="which GPU: auto or 1 (the first), or its index as a list, e.g. [1] (default auto)",
    )
    if progress:
        add_flag(p, "--trainer.enable_progress_bar", True, "show a progress bar", dest="progress")


def device_name(accelerator: str, devices: Any = "auto") -> str:
    """``--trainer.accelerator``/``--trainer.devices`` -> a torch device name (``auto``, ``cpu``, ``cuda:1``, ...)."""
    from clipstyler_fast.errors import DeviceError

    kind = {"gpu": "cuda"}.get(accelerator, accelerator)
    text = str(devices).strip().replace(" ", "")
    if text in ("auto", "1", "-1"):
        index = None
    elif text.startswith("[") and text.endswith("]") and text[1:-1].isdigit():
        index = int(text[1:-1])
    elif text.endswith(",") and text[:-1].isdigit():
        index = int(text[:-1])
    else:
        raise DeviceError(f"--trainer.devices {devices}: this command runs on one device; give auto, 1, or a GPU index such as [1]")
    if kind in ("auto", "cpu", "mps"):
        return kind
    return f"cuda:{index}" if index is not None else "cuda"


def resolve(args: argparse.Namespace) -> Any:
    """The torch device ``--trainer.accelerator``/``--trainer.devices`` ask for (imports torch)."""
    from clipstyler_fast.errors import DeviceError
    from clipstyler_fast.infer.device import resolve_device

    try:
        return resolve_device(device_name(args.accelerator, args.devices))
    except DeviceError:
        raise DeviceError(
            f"--trainer.accelerator {args.accelerator} --trainer.devices {args.devices}: no such device on this machine; "
            "use --trainer.accelerator cpu"
        ) from None


def take_repeated(argv: list[str], name: str) -> tuple[list[str], list[str]]:
    """The values of a repeatable option (``--name A --name B`` or ``--name=A``) and the other arguments."""
    values: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == name:
            value = next(args, None)
            if value is None:
                rest.append(arg)  # the parser reports the missing value
            else:
                values.append(value)
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return values, rest
