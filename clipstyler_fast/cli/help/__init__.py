"""The ``--help`` text of the LightningCLI commands, shipped as files so that
``clipstyler-fast fit --help`` prints at once, without importing torch and Lightning.

The files are generated from the real parsers; refresh them after changing an option::

    python -m clipstyler_fast.cli.help --write

and ``python -m clipstyler_fast.cli.help --check`` (also a test) says whether they are current.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

COMMANDS = ("fit", "validate", "pretrain", "predict", "distill")
# The width the files are formatted for, whatever the terminal that generates them.
COLUMNS = 100
FOLDER = Path(__file__).resolve().parent


def shipped(command: str) -> str:
    """The shipped help text of ``command``."""
    return (FOLDER / f"{command}.txt").read_text(encoding="utf-8")


def generate(command: str) -> str:
    """The help text of ``command`` as its LightningCLI parser prints it, in a fresh interpreter
    (so that nothing a running program changed, such as warning filters, alters it)."""
    import subprocess

    code = "import sys; from clipstyler_fast.cli.help import print_help; print_help(sys.argv[1])"
    env = {**os.environ, "COLUMNS": str(COLUMNS)}
    return subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True, env=env, check=True).stdout


def print_help(command: str) -> None:
    """Print the help of ``command`` through its real parser (imports torch)."""
    import importlib
    import warnings

    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    name = command if command in ("predict", "distill") else "training"
    module = importlib.import_module(f"clipstyler_fast.cli.{name}")
    argv = ["--help"] if name == command else [command, "--help"]
    with contextlib.suppress(SystemExit):
        module.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv not in (["--write"], ["--check"]):
        print("usage: python -m clipstyler_fast.cli.help --write | --check", file=sys.stderr)
        return 2
    stale = []
    for command in COMMANDS:
        text = generate(command)
        target = FOLDER / f"{command}.txt"
        if argv == ["--write"]:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
        elif not target.is_file() or target.read_text(encoding="utf-8") != text:
            stale.append(command)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m clipstyler_fast.cli.help --write", file=sys.stderr)
        return 1
    return 0
