"""When ``fit``/``validate`` is about the any-prompt network: when a prompt bank is given
(``--data.prompts``, as ``configs/any_prompt.yaml`` does) or the checkpoint holds one. Read
from the command line before any parser is built, to choose the parser."""

from __future__ import annotations

from pathlib import Path

from clipstyler_fast.errors import ClipstylerError
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import StyleRecord

# The folder of an any-prompt run under --checkpoint.root.
RUN_NAME = "any-prompt"


def _option(args: list[str], name: str) -> list[str]:
    """Every value given to ``--name`` (as ``--name VALUE`` or ``--name=VALUE``)."""
    values = []
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


def _config_has_bank(path: str) -> bool:
    import yaml

    try:
        config = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False  # LightningCLI reports an unreadable config itself
    return isinstance(config, dict) and isinstance(config.get("data"), dict) and "prompts" in config["data"]


def _checkpoint_is_any_prompt(path: str) -> bool:
    if not Path(path).expanduser().is_file():
        return False
    try:
        return StyleRecord.from_checkpoint(load_checkpoint_file(path), path).is_conditioned
    except ClipstylerError:
        return False  # the per-prompt command reports a bad checkpoint in its own words


def wants_any_prompt(args: list[str]) -> bool:
    """Whether a ``fit``/``validate`` command line trains (or checks) an any-prompt network."""
    if any(arg == "--data.prompts" or arg.startswith("--data.prompts=") for arg in args):
        return True
    return any(_config_has_bank(c) for c in _option(args, "--config")) or any(
        _checkpoint_is_any_prompt(c) for c in _option(args, "--ckpt_path")
    )
