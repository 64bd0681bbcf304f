"""Every command's --help: quick, torch-free, and one spelling per setting across all commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import imported_modules, run_cli

from clipstyler_fast.cli import help as shipped_help
from clipstyler_fast.cli import options
from clipstyler_fast.cli.main import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def help_text(command: str, capsys: pytest.CaptureFixture) -> str:
    try:
        status = main([command, "--help"])
    except SystemExit as done:  # argparse tools exit after printing their help
        status = done.code or 0
    assert status == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_imports_no_torch(command: str) -> None:
    result = run_cli(command, "--help", python=("-X", "importtime"))
    assert result.returncode == 0, result.stderr[-2000:]
    imported = imported_modules(result.stderr)
    assert not {name for name in imported if name.split(".")[0] in ("torch", "lightning", "jsonargparse")}
    assert f"usage: clipstyler-fast {command}" in result.stdout.replace("[options] ", "")
    # The real options, not a stub (interpolate takes two checkpoints, demo a folder of them).
    assert "--ckpt_path" in result.stdout or command in ("interpolate", "demo", "optimize")


def test_each_setting_has_one_spelling_across_commands(capsys: pytest.CaptureFixture) -> None:
    texts = {command: help_text(command, capsys) for command in sorted(COMMANDS)}
    spellings: dict[str, set[str]] = {}
    for text in texts.values():
        for option in set(re.findall(r"(?<![\w.-])--[A-Za-z][\w.]*", text)):
            if option.endswith(".help") or option in ("--help", "--config", "--print_config"):
                continue
            spellings.setdefault(option.rsplit(".", 1)[-1], set()).add(option)
    # Different settings that happen to share a last word.
    spellings.pop("overwrite")
    # Training's --model.prompt (the style to train; --checkpoint.prompt names pretrain's folder)
    # and inference's --prompt (the style asked of an any-prompt checkpoint) are different settings.
    prompts = spellings.pop("prompt")
    assert prompts <= {"--model.prompt", "--prompt", "--checkpoint.prompt"}, prompts
    several = {leaf: sorted(found) for leaf, found in spellings.items() if len(found) > 1}
    assert not several, several
    everything = "\n".join(texts.values())
    for old in (
        "--vgg_weights",
        "--device",
        "--output_dir",
        "--max_side",
        "--batch_size",
        "--clip_model",
        "--csv",
        "--max_pixels",
        "--model.checkpoint",
        "--weights_only",
        "--progress",
        "--no-progress",
    ):
        assert not re.search(rf"(?<![\w.-]){re.escape(old)}\b", everything), old
    for tool in ("evaluate", "video", "interpolate", "export"):
        assert "--model.vgg_weights" in texts[tool]
    for command in ("evaluate", "video", "interpolate", "predict", "fit"):
        assert "--trainer.accelerator" in texts[command]
    assert "--strip" in texts["interpolate"] and "--alphas" in texts["interpolate"]


def test_every_option_the_product_names_exists() -> None:
    """Errors, warnings and docstrings name options by their one spelling, of a command that has them."""
    import ast

    from clipstyler_fast.cli import option_table

    known = {option for command in COMMANDS for option in option_table.table(command)}
    # The Hugging Face command line's own options, in the download hints of shared styles.
    known |= {"--local-dir", "--revision"}
    unknown = set()
    for path in sorted((ROOT / "clipstyler_fast").rglob("*.py")):
        if path.parent.name == "help":  # the generator's own --write and --check
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for option in re.findall(r"(?<![\w.-])--[A-Za-z][\w.-]*\w", node.value):
                    if option not in known:
                        unknown.add(f"{path.relative_to(ROOT)}: {option}")
    assert len(known) > 100
    assert not unknown, sorted(unknown)


def test_lightning_help_texts_say_this_products_words(capsys: pytest.CaptureFixture) -> None:
    predict = help_text("predict", capsys)
    fit = help_text("fit", capsys)
    assert "Customize every aspect of training" not in predict + fit
    assert "Stylize images or folders" in predict
    for text in (predict, fit, help_text("validate", capsys)):
        ckpt_help = text[text.index("  --ckpt_path") :]
        assert "hpc" not in ckpt_help and "registry" not in ckpt_help and "best" not in ckpt_help


@pytest.mark.slow
def test_shipped_help_is_what_the_parsers_print() -> None:
    stale = [c for c in shipped_help.COMMANDS if shipped_help.generate(c) != shipped_help.shipped(c)]
    assert not stale, f"run: python -m clipstyler_fast.cli.help --write ({', '.join(stale)} changed)"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"clipstyler_fast.cli.help" = ["*.txt"]' in pyproject


def test_mirrored_constants_match_the_modules_that_use_them() -> None:
    from clipstyler_fast.cli import export as export_cli
    from clipstyler_fast.cli import values
    from clipstyler_fast.cli import video as video_cli
    from clipstyler_fast.infer import export, tiling, video

    assert options.EXPORT_POSTPROCESS == export.EXPORT_POSTPROCESS
    assert options.EXPORT_FORMATS == export.FORMATS
    assert values.GRID == tiling.GRID
    assert (export_cli.ONNX_INSTALL_HINT, export_cli.EXPORT_MIN_SIDE, export_cli.EXPORT_TOLERANCE) == (
        export.INSTALL_HINT,
        export.MIN_SIDE,
        export.TOLERANCE,
    )
    assert video_cli.VIDEO_INSTALL_HINT == video.INSTALL_HINT


@pytest.mark.parametrize(
    "text, expected",
    [("0,0.5,1", [0.0, 0.5, 1.0]), ("[0.25]", [0.25]), ("0.5,", [0.5])],
)
def test_one_alpha_list_reader(text: str, expected: list[float]) -> None:
    assert options.parse_alphas(text) == expected


@pytest.mark.parametrize("text", ["", "a,b", "0,1.5"])
def test_alpha_list_refusals(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        options.parse_alphas(text)


@pytest.mark.parametrize(
    "accelerator, devices, name",
    [("auto", "auto", "auto"), ("cpu", "auto", "cpu"), ("gpu", "1", "cuda"), ("cuda", "[1]", "cuda:1"), ("gpu", "2,", "cuda:2")],
)
def test_device_options_name_one_device(accelerator: str, devices: str, name: str) -> None:
    assert options.device_name(accelerator, devices) == name
