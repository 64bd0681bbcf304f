"""A bad option value is refused in one line, in a blink, before torch, Lightning or jsonargparse
load; a good one is never refused; and boolean options read alike in every command.

The bad and good values are made here from each option's rule in the option table, for every
option of every command, so that an option added later is walked too."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import imported_modules, run_cli

from clipstyler_fast.cli.main import COMMANDS, LIGHTNING_COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "lightning", "jsonargparse")
# The arguments each argparse tool needs besides the one under test.
REQUIRED = {
    "evaluate": ["--data.path", "photos"],
    "interpolate": ["a.ckpt", "b.ckpt", "--output", "blend.ckpt"],
    "video": ["--ckpt_path", "s.ckpt", "--data.path", "clip.mp4", "--output", "out.mp4"],
    "export": ["--ckpt_path", "s.ckpt", "--output.dir", "out"],
    "share": ["--ckpt_path", "s.ckpt", "--output.dir", "out"],
    "demo": [],
    "optimize": ["--model.prompt", "fire", "--data.path", "photos", "--output.dir", "out"],
}
# Options checked together: a value of the first is given with the second set so that the pair is valid.
PARTNER = {"--tile_size": ["--tile_overlap", "0"], "--tile_overlap": ["--tile_size", "4096"]}


def table_module() -> ModuleType:
    from clipstyler_fast.cli import option_table

    return option_table


def refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str, set[str]]:
    """The exit status, output and error output of ``argv``, and the modules it newly loaded."""
    before = set(sys.modules)
    status = main(argv)
    loaded = set(sys.modules) - before
    captured = capsys.readouterr()
    return status, captured.out, captured.err, loaded


def one_line_problem(status: int, out: str, err: str, loaded: set[str], option: str) -> str | None:
    """What is wrong with a refusal of ``option``'s value, or None."""
    lines = err.splitlines()
    if status != 2:
        return f"exit status {status}"
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"not one error line: {err!r}"
    if "Traceback" in err or out:
        return f"more than the line: {out!r} {err!r}"
    if option not in lines[0]:
        return f"the line does not name {option}: {lines[0]!r}"
    # Refused before the heavy imports (when an earlier test has not loaded them already).
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY)
    if heavy:
        return f"loaded {heavy[:5]}"
    return None


def _g(number: float) -> str:
    return f"{number:g}"


def bad_values(rule: Any) -> list[str]:
    """Values ``rule`` must refuse: empty, of the wrong type, non-finite, out of range."""
    kind = rule.kind
    if kind in ("any", "flag"):
        return []
    if kind == "refused":
        return ["x"]
    bad = ["", " "]
    if kind in ("int", "float", "int_or_bool"):
        bad.append("abc")
        if rule.least is not None and rule.least - 1 not in rule.also:
            bad.append(_g(rule.least - 1))
        if rule.also:
            bad.append(_g(min(rule.also) - 1))
        if rule.above is not None:
            bad.append(_g(rule.above))
        if rule.most is not None:
            bad.append(_g(rule.most + 1))
        if rule.multiple:
            bad.append(_g((rule.least or 0) + rule.multiple + 1))
    if kind == "int":
        bad.append("1.5")
    if kind == "float":
        bad += ["nan", "NaN", "inf", ".inf", "-inf"]
    if kind in ("bool", "int_or_bool"):
        bad.append("maybe")
    if kind in ("choice", "bool_or_choice"):
        bad.append("no-such-choice")
    if kind == "alphas":
        bad += ["2", "a,b", "nan"]
    if kind == "paths":
        bad += ["[]", "[a,]"]
    return bad


def good_values(rule: Any) -> list[str]:
    """Values ``rule`` must take; the default (where there is one) first."""
    kind = rule.kind
    good = [rule.default] if rule.default not in (None, "") and kind not in ("flag", "any") else []
    if rule.nullable:
        good.append("null")
    if kind == "int":
        least = rule.least if rule.least is not None else 0
        step = rule.multiple or 1
        good += [_g(math.ceil(least / step) * step), *map(_g, rule.also), "1_000" if rule.most is None and not rule.multiple else _g(least)]
        if rule.most is not None:
            good.append(_g(rule.most))
    elif kind == "float":
        least = rule.least if rule.least is not None else (rule.above or 0) + 0.5
        good += [_g(least), "1e-3" if rule.least is None and (rule.above or 0) < 1e-3 else _g(least)]
        if rule.most is not None:
            good.append(_g(rule.most))
    elif kind == "bool":
        good += ["true", "false", "yes", "0"]
    elif kind in ("choice", "bool_or_choice"):
        good += list(rule.choices) + (["true", "false"] if kind == "bool_or_choice" else [])
    elif kind == "text":
        good += ["x", "a b"]
    elif kind == "paths":
        good += ["a", "[a,b]"]
    elif kind == "alphas":
        good += ["0,0.5,1", "0.25"]
    elif kind == "int_or_bool":
        good += ["true", _g(rule.least or 3)]
    return good


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_bad_value_of_every_option_is_one_line_in_a_blink(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    problems = []
    walked = 0
    positionals = table_module().takes_positionals(command)
    for option, rule in table_module().table(command).items():
        for value in bad_values(rule):
            forms = [[command, option, value], [command, f"{option}={value}"]]
            if positionals and rule.kind == "bool":  # there, a word after the flag alone is the next argument
                forms = forms[1:]
            for argv in forms:
                problem = one_line_problem(*refusal(capsys, argv), option=option)
                walked += 1
                if problem:
                    problems.append(f"{' '.join(argv[1:])!r}: {problem}")
    assert walked > 20, "the walk found options with values to refuse"
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize(
    "argv, words",
    [
        (["predict", "--tile_size", "100"], "not a multiple of 8"),
        (["predict", "--tile_size", "256"], "3 x --tile_overlap 128"),
        (["predict", "--tile_overlap", "512"], "--tile_size 1024: below 3 x --tile_overlap 512"),
        (["fit", "--trainer.max_steps", "0"], "give a number of optimizer steps, at least 1, or -1 for no limit"),
        (["pretrain", "--trainer.max_steps", "0"], "trains nothing"),
        (["distill", "--trainer.max_steps", "0"], "trains nothing"),
        (["fit", "--trainer.max_epochs", "0"], "trains nothing"),
        (["predict", "--strength", "2"], "outside [0, 1]"),
        (["predict", "--strength", "nan"], "not a finite number"),
        (["video", "--strength", "2"], "outside [0, 1]"),
        (["video", "--strength", "nan"], "not a finite number"),
        (["predict", "--data.path", "a", "b"], "give a list, --data.path [a,b], or repeat the option: --data.path a --data.path+ b"),
        (["fit", "--data.path", "a", "b"], "give one folder of images"),
        (["fit", "--model.prompt", "a", "watercolor"], "--model.prompt 'a watercolor'"),
        (["predict", "--output", "stylized"], "give the folder with --output.dir"),
        (["fit", "--model.lr", "-inf"], "not a finite number"),
        (["interpolate", "a.ckpt", "b.ckpt", "--alpha", "1.5"], "outside [0, 1]"),
        (["optimize", "--trainer.max_steps", "-1"], "must be 0 or more"),
        (["fit", "--data.batch_size"], "no value given"),
    ],
)
def test_the_reported_refusals_name_the_option_and_what_to_give(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    option = next(arg for arg in argv if arg.startswith("--"))
    status, out, err, loaded = refusal(capsys, argv)
    assert one_line_problem(status, out, err, loaded, option) is None, err
    assert words in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "--tile_size", "100"],
        ["fit", "--trainer.max_steps", "0"],
        ["predict", "--strength", "2"],
        ["predict", "--strength", "nan"],
        ["predict", "--data.path", "a", "b"],
        ["fit", "--data.path", "a", "b"],
        ["predict", "--output", "stylized"],
        ["video", "--strength", "1.5"],
        ["optimize", "--model.lr", "nan"],
    ],
)
def test_a_fresh_command_refuses_before_loading_anything_heavy(argv: list[str], tmp_path: Path) -> None:
    result = run_cli(*argv, cwd=tmp_path, python=("-X", "importtime"))
    imported = imported_modules(result.stderr)
    said = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(said) == 1 and said[0].startswith("error: ") and argv[1] in said[0], said
    assert not {name for name in imported if name.split(".")[0] in HEAVY}
    assert not list(tmp_path.iterdir()), "nothing written"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_table_holds_every_option_the_help_shows(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        main([command, "--help"])
    except SystemExit:  # argparse tools exit after their help
        pass
    text = capsys.readouterr().out
    shown = set()
    for line in text.splitlines():
        if re.match(r"^  -", line):
            spec = line.strip().split("  ")[0]
            shown |= {part.split(" ")[0].removesuffix("+") for part in spec.split(", ")}
    assert len(shown) > 5
    missing = shown - set(table_module().table(command))
    assert not missing, f"{command}: options without a rule: {sorted(missing)}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_good_values_of_every_option_pass_the_check(command: str) -> None:
    check = table_module().checked_arguments
    tried = 0
    for option, rule in table_module().table(command).items():
        if rule.kind == "refused":
            continue
        for value in good_values(rule):
            partner = PARTNER.get(option, [])
            check(command, [*REQUIRED.get(command, []), option, value, *partner])
            check(command, [*REQUIRED.get(command, []), f"{option}={value}", *partner])
            tried += 1
    assert tried > 10


def test_several_values_where_the_command_takes_them_pass() -> None:
    check = table_module().checked_arguments
    assert check("optimize", ["--data.path", "a", "b", "--model.prompt", "fire"]) == ["--data.path", "a", "b", "--model.prompt", "fire"]
    assert check("interpolate", ["a.ckpt", "b.ckpt", "--alpha", "0.3", "--prompts", "x", "y"])[:4] == ["a.ckpt", "b.ckpt", "--alpha", "0.3"]
    assert check("predict", ["--data.path", "[a,b]", "--data.path+", "c"]) == ["--data.path", "[a,b]", "--data.path+", "c"]
    assert check("fit", ["--trainer.max_steps", "-1", "--seed_everything", "-3"])[1] == "-1"
    # With a config file, the tile pair is judged once the file's value is known.
    assert check("predict", ["--config", "c.yaml", "--tile_size", "64"])[-1] == "64"


@pytest.mark.parametrize("command", ["predict", "video", "interpolate", "optimize", "fit"])
def test_a_boolean_option_alone_means_true_and_its_words_read_alike(command: str) -> None:
    check = table_module().checked_arguments
    flag = {
        "predict": "--preserve_colors",
        "video": "--preserve_colors",
        "interpolate": "--include_content",
        "optimize": "--data.square",
        "fit": "--checkpoint.overwrite",
    }[command]
    assert check(command, [flag]) == [flag, "true"]
    assert check(command, [flag, "--strength", "0.5"])[:2] == [flag, "true"]
    for word, meaning in (("yes", "true"), ("0", "false"), ("False", "false"), ("on", "true")):
        assert check(command, [flag, word]) == [flag, meaning]
    if command == "interpolate":  # a checkpoint after the flag is no boolean
        assert check(command, [flag, "a.ckpt", "b.ckpt"]) == [flag, "true", "a.ckpt", "b.ckpt"]


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - set(LIGHTNING_COMMANDS)))
def test_good_values_pass_the_argparse_tools_own_parsers(command: str) -> None:
    from clipstyler_fast.cli import declared_options

    option_table = table_module()
    parser = declared_options.parser(command)
    for option, rule in option_table.table(command).items():
        if rule.kind in ("flag", "refused"):
            continue
        for value in good_values(rule)[:3]:
            given = [value, value] if rule.arity == "many" else [value]  # --prompts A B
            argv = option_table.checked_arguments(command, [*REQUIRED[command], option, *given])
            parsed = parser.parse_args(argv)
            assert parsed is not None
    interpolate = declared_options.parser("interpolate")
    for given in (["--include_content"], ["--include_content", "true"], ["--include_content", "no"]):
        args = interpolate.parse_args(option_table.checked_arguments("interpolate", [*REQUIRED["interpolate"], *given]))
        assert args.include_content is (given[-1] != "no")


def bundle(command: str, which: int) -> list[str]:
    """A good value (the ``which``-th of each list) for every option of a LightningCLI command
    that takes a plain value."""
    argv = []
    for option, rule in table_module().table(command).items():
        if rule.kind in ("any", "flag", "refused") or option.startswith("-") and not option.startswith("--"):
            continue
        good = good_values(rule)
        value = "last" if option == "--ckpt_path" else good[which % len(good)]
        argv += [option, value]
    return argv


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("command", LIGHTNING_COMMANDS)
def test_good_values_pass_the_lightning_parsers(command: str, which: int, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = bundle(command, which)
    if command == "predict":
        argv += ["--data.path", str(tmp_path), "--output.dir", str(tmp_path / "out")]
    assert len(argv) > 40
    try:
        status = main([command, *argv, "--print_config"])
    except SystemExit as done:
        status = done.code or 0
    captured = capsys.readouterr()
    assert status == 0, captured.err[-3000:]
    assert "max_steps:" in captured.out


def test_every_option_a_refusal_names_is_an_option_of_that_command() -> None:
    option_table = table_module()
    for command in COMMANDS:
        rules = option_table.table(command)
        for option, rule in rules.items():
            words = " ".join((rule.problem("") or "", rule.advice()))
            for named in re.findall(r"(?<![\w.-])--[A-Za-z][\w.]*[\w+]", words):
                assert named.removesuffix("+") in rules, f"{command} {option}: names {named}"


def test_each_range_belongs_to_an_option_of_its_commands_and_defaults_pass() -> None:
    option_table = table_module()
    for option, (commands, _) in option_table.RANGES.items():
        assert any(option in option_table.table(command) for command in commands), option
    for command in COMMANDS:
        for option, rule in option_table.table(command).items():
            if rule.default is not None and rule.kind not in ("any", "flag", "alphas"):
                assert rule.problem(rule.default) is None, (command, option, rule.default)


@pytest.mark.parametrize(
    "command, flags, printed",
    [
        ("predict", ["--preserve_colors"], ["preserve_colors: true"]),
        ("fit", ["--checkpoint.overwrite", "--model.compile"], ["overwrite: true", "compile: true"]),
    ],
)
def test_a_boolean_option_alone_reaches_the_lightning_parsers_as_true(
    command: str, flags: list[str], printed: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = (
        [command, *flags, "--data.path", str(tmp_path), "--output.dir", str(tmp_path / "out")]
        if command == "predict"
        else [command, *flags]
    )
    try:
        status = main([*argv, "--print_config"])
    except SystemExit as done:
        status = done.code or 0
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]
    for line in printed:
        assert line in captured.out, line


def test_predict_help_shows_one_output_option_and_refuses_the_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--output.dir DIR" in text
    assert not re.search(r"--output[ \]]", text), "predict's help lists --output beside --output.dir"
    status, out, err, loaded = refusal(capsys, ["predict", "--output=stylized"])
    assert one_line_problem(status, out, err, loaded, "--output") is None and "--output.dir" in err
