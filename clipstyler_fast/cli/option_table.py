"""Every option of every command and the rule its value follows, and the check of a command
line against them before the command's module (and torch, Lightning, jsonargparse) is loaded.

The options and the kinds of their values are what the commands declare
(:mod:`clipstyler_fast.cli.declared_options`); this product's ranges for the LightningCLI
commands come on top (:data:`RANGES`; the argparse tools carry theirs in their option types).
An option the table does not know is left to the command's parser, so the check refuses
nothing the command would take.

The same table checks the values a LightningCLI command settled on (from ``--config`` files
too) before any network loads: :func:`check_config`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import cache
from itertools import takewhile
from typing import Any

from clipstyler_fast.cli import values
from clipstyler_fast.cli.declared_options import LIGHTNING, SEVERAL_PATHS, declared, takes_positionals
from clipstyler_fast.cli.values import Rule, number, read_bool, read_whole, tile_problem, whole
from clipstyler_fast.errors import OptionError

# The commands that train: a step or epoch budget of 0 would end them before their first step.
TRAINING = ("fit", "pretrain", "distill")


def _each(options: str, rule: Rule) -> dict[str, tuple[tuple[str, ...], Rule]]:
    """Each of the space-separated ``options`` of every LightningCLI command -> ``rule``."""
    return dict.fromkeys(options.split(), (LIGHTNING, rule))


# This product's ranges for the LightningCLI commands' options, on top of the types their
# parsers declare: option -> (commands it applies to, rule).
RANGES: dict[str, tuple[tuple[str, ...], Rule]] = {
    "--trainer.max_steps": (TRAINING, values.STEPS),
    "--trainer.max_epochs": (TRAINING, values.EPOCHS),
    **_each(
        "--trainer.num_nodes --trainer.check_val_every_n_epoch --trainer.accumulate_grad_batches --model.num_views --model.blocks "
        "--model.expansion --model.full_width --data.batch_size --data.max_pixels --data.max_batch_pixels "
        "--checkpoint.every_n_train_steps --size --output.write_threads",
        values.POSITIVE,
    ),
    **_each(
        "--trainer.min_steps --trainer.min_epochs --trainer.log_every_n_steps --trainer.reload_dataloaders_every_n_epochs "
        "--model.preview_every_n_steps --data.num_holdout --data.num_workers --tile_above",
        values.NON_NEGATIVE,
    ),
    **_each(
        "--trainer.limit_train_batches --trainer.limit_val_batches --trainer.limit_test_batches --trainer.limit_predict_batches "
        "--trainer.overfit_batches --trainer.gradient_clip_val --model.lr_decay",
        number(0),
    ),
    **_each(
        "--model.lambda_content --model.lambda_patch --model.lambda_dir --model.lambda_tv --model.lambda_pixel --model.lambda_feature "
        "--model.lambda_consistency",
        values.WEIGHT,
    ),
    "--trainer.num_sanity_val_steps": (LIGHTNING, whole(-1)),
    "--trainer.fast_dev_run": (LIGHTNING, Rule("int_or_bool", least=0)),
    "--model.consistency_share": (LIGHTNING, number(above=0, most=1, give="give a share of the batch in (0, 1], e.g. 0.5")),
    "--model.distortion": (LIGHTNING, values.UNIT),
    "--model.view_crop": (LIGHTNING, number(above=0, most=1, give="give a share of the output's side in (0, 1], e.g. 0.25")),
    "--model.lr": (LIGHTNING, values.LEARNING_RATE),
    "--data.path": (
        ("fit", "validate", "pretrain", "distill"),
        Rule("text", give="give one folder of images (its sub-folders are searched too)"),
    ),
    "--data.crop_size": (LIGHTNING, whole(values.GRID, multiple=values.GRID)),
    "--tile_size": (
        LIGHTNING,
        whole(values.GRID, multiple=values.GRID, give=f"give a multiple of {values.GRID}, at least 3 x --tile_overlap"),
    ),
    "--tile_overlap": (LIGHTNING, whole(0, multiple=values.GRID, give=f"give a multiple of {values.GRID}, at most a third of --tile_size")),
    "--strength": (LIGHTNING, values.STRENGTH),
    "--output.quality": (LIGHTNING, whole(1, 100)),
}

# Options of a LightningCLI command that its shipped help does not list: those of the any-prompt
# network (``fit --data.prompts FILE``), and predict's ``--output``, which names a
# file in every other command and is kept off predict's help so that it means one thing.
EXTRA: dict[str, dict[str, Rule]] = {
    "fit": {
        "--data.prompts": values.TEXT,
        "--model.holdout_prompts": values.NON_NEGATIVE,
        "--model.film_hidden": values.POSITIVE,
        "--model.mix_prompts": number(0, 1, give="give a share of the batch from 0 to 1 (0: single prompts only)"),
    },
    "predict": {"--output": Rule("refused", give="predict writes a folder of images, not one file; give the folder with --output.dir")},
}
EXTRA["validate"] = EXTRA["fit"]


def table(command: str) -> dict[str, Rule]:
    """Each option name -> its rule, for every option of ``command`` (short ones such as ``-c`` too)."""
    return dict(_table(command))


@cache
def _table(command: str) -> tuple[tuple[str, Rule], ...]:
    if command in LIGHTNING:
        rules = dict(declared(command))
        for option, (commands, rule) in RANGES.items():
            if option in rules and command in commands:
                base = rules[option]
                # Whether null is taken is the parser's to say, as is the default.
                rules[option] = replace(rule, nullable=base.nullable, default=base.default, arity=base.arity)
        rules.update(EXTRA.get(command, {}))
        return tuple(rules.items())
    return declared(command)


# ---- the check of a command line -------------------------------------------------------------


def _is_help(arg: str) -> bool:
    name = arg.split("=", 1)[0]
    return name in ("-h", "--help") or name.endswith(".help")


def checked_arguments(command: str, argv: list[str]) -> list[str]:
    """``argv`` (the arguments after ``command``) with every value the table knows checked, or an
    :class:`OptionError` naming the first bad one. A boolean option given alone comes back
    followed by ``true``, and yes/no/on/off/1/0 as true or false, which every command reads alike."""
    if any(_is_help(arg) for arg in argv):
        return list(argv)
    rules = table(command)
    positionals = takes_positionals(command)

    def is_option(arg: str) -> bool:
        # "-inf" or "-1e3" after an option is its (bad) value, as no command has such an option.
        return arg.startswith("--") or arg.split("=", 1)[0] in rules

    out: list[str] = []
    given: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        name, inline, value = arg.partition("=")
        rule = rules.get(name.removesuffix("+")) if is_option(arg) else None
        if rule is None or (rule.arity == "none" and not inline):
            out.append(arg)
            i += 1
            continue
        following = argv[i + 1] if i + 1 < len(argv) else None
        if rule.kind == "refused":
            raise OptionError(f"{name} {shlex.quote(value if inline else following or '')}: {rule.give}")
        if not inline:
            alone = following is None or is_option(following) or (positionals and read_bool(following) is None)
            if rule.kind == "bool" and alone:
                out += [name, "true"]
                given[name.removesuffix("+")] = "true"
                i += 1
                continue
            if rule.arity == "optional" and rule.kind != "bool":  # --print_config, ...: its parser decides
                out.append(arg)
                i += 1
                continue
            if following is None or is_option(following):
                raise OptionError(f"{name}: no value given; {rule.advice()}")
            value = following
        i += 1 if inline else 2
        _refuse(name, value, rule)
        more = _more_values(name, value, rule, list(takewhile(lambda arg: not is_option(arg), argv[i:])), positionals)
        i += len(more)
        if rule.kind == "bool" and read_bool(value) is not None:
            value = "true" if read_bool(value) else "false"
        out += [f"{name}={value}"] if inline else [name, value]
        out += more
        given[name.removesuffix("+")] = value
    _check_tiles(rules, given, config_given=any(arg.split("=", 1)[0] in ("-c", "--config") for arg in argv))
    return out


def _more_values(name: str, value: str, rule: Rule, more: list[str], positionals: bool) -> list[str]:
    """The values after ``value`` that belong to option ``name`` (each checked): all of them for a
    list option, none otherwise (positional arguments follow, or a one-line refusal of the stray values)."""
    if more and rule.arity == "many":
        for extra in more:
            _refuse(name, extra, rule)
        return more
    if more and not positionals and rule.kind != "any":
        raise OptionError(_stray(name, [value, *more], rule))
    return []


def _refuse(name: str, value: str, rule: Rule) -> None:
    problem = rule.problem(value)
    if problem is not None:
        raise OptionError(f"{name} {shlex.quote(value)}: {problem}")


def _stray(name: str, given: list[str], rule: Rule) -> str:
    typed = " ".join(shlex.quote(value) for value in given)
    if rule.kind == "paths":
        return f"{name} {typed}: one value per option; {SEVERAL_PATHS}"
    quoted = f"quote a value with spaces: {name} {shlex.quote(' '.join(given))}"
    return f"{name} {typed}: takes one value; " + (f"{rule.give}; {quoted}" if rule.give else quoted)


def _check_tiles(rules: Mapping[str, Rule], given: Mapping[str, str], config_given: bool) -> None:
    """The tile side and overlap together; when a config file may set the one not given, the
    check waits for :func:`check_config`."""
    names = ("--tile_size", "--tile_overlap")
    if not all(name in rules for name in names) or not any(name in given for name in names):
        return
    if config_given and not all(name in given for name in names):
        return
    tile, overlap = (read_whole(given.get(name) or rules[name].default or "") for name in names)
    if tile is not None and overlap is not None and (problem := tile_problem(tile, overlap)):
        raise OptionError(problem)


# ---- the check of a parsed configuration -----------------------------------------------------


def _flatten(items: Mapping[str, Any], prefix: str = "--") -> Iterator[tuple[str, Any]]:
    for key, value in items.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def check_config(command: str, config: Any) -> None:
    """Refuse, in one line, a value of ``command``'s parsed configuration (command line and
    ``--config`` files together) that its option's rule does not allow."""
    rules = table(command)
    settled: dict[str, str] = {}
    for option, value in _flatten(config.as_dict()):
        rule = rules.get(option)
        if rule is None or rule.kind == "refused":
            continue
        if rule.kind == "paths" and isinstance(value, (list, tuple)):
            for item in value:
                _refuse(option, str(item), replace(rule, kind="text"))
            continue
        if value is not None and not isinstance(value, (list, tuple, dict)):
            settled[option] = str(value).lower() if isinstance(value, bool) else str(value)
            _refuse(option, settled[option], rule)
    _check_tiles(rules, settled, config_given=False)
