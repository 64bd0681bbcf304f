"""The options each command declares and the kind of value each takes, as its own parser says:
for the LightningCLI commands, their shipped help texts (``(type: int, default: 4)``,
``{true,false}``), read without loading jsonargparse; for the argparse tools, their parsers,
whose types are the rules of :mod:`clipstyler_fast.cli.values`. The product's ranges come on
top of these in :mod:`clipstyler_fast.cli.option_table`."""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import cache

from clipstyler_fast.cli.help import COMMANDS as LIGHTNING
from clipstyler_fast.cli.help import shipped
from clipstyler_fast.cli.values import TEXT, Rule, number, whole

# How predict takes several inputs (jsonargparse reads a list, or appends with ``+``).
SEVERAL_PATHS = "for several, give a list, --data.path [a,b], or repeat the option: --data.path a --data.path+ b"


def declared(command: str) -> tuple[tuple[str, Rule], ...]:
    """``(option, rule)`` for every option ``command`` declares (short ones such as ``-c`` too)."""
    if command in LIGHTNING:
        return tuple(_help_rules(shipped(command)))
    return tuple(_parser_rules(parser(command)))


def takes_positionals(command: str) -> bool:
    """Whether ``command`` takes arguments that are no option's value (``interpolate A.ckpt B.ckpt``)."""
    return command not in LIGHTNING and any(not action.option_strings for action in parser(command)._actions)


# ---- LightningCLI: the shipped help texts ----------------------------------------------------

_TYPE = re.compile(r"\((?:required, )?type: ((?:[^()]|\([^()]*\))*?)(?:, default: ([^()]*?))?(?:, known subclasses:[^()]*)?\)")


def _help_entries(text: str) -> Iterator[tuple[str, str]]:
    """``(option spec, description)`` of each option in a help text (usage and linked arguments left out)."""
    body = text[text.index("\noptions:") :]
    for entry in re.finditer(r"^  -.*(?:\n {3,}\S.*)*", body, re.MULTILINE):
        first, *more = entry[0].splitlines()
        # jsonargparse writes "--print_config \b[=flags]": the backspace joins the optional value to the name.
        spec, _, description = first.replace("\b", "").strip().partition("  ")
        description = description.strip()
        for line in more:
            # argparse wraps after hyphens ("transformer-" / "engine"): no space there.
            description += ("" if description.endswith("-") else " ") + line.strip()
        yield spec, description


def _help_rules(text: str) -> Iterator[tuple[str, Rule]]:
    for spec, description in _help_entries(text):
        found = _TYPE.findall(description)
        type_text, default = found[-1] if found else ("", "")
        for part in spec.split(", "):
            name, _, metavar = part.partition(" ")
            if name.endswith("+"):  # the appending form of a list option: the same rule
                continue
            if name.endswith(".help") or not metavar:
                yield name, Rule("flag" if not metavar else "any", arity="none" if not metavar else "optional")
                continue
            arity = "optional" if metavar.startswith("[") else "one"
            choices = tuple(metavar.strip("{}").split(",")) if metavar.startswith("{") else ()
            rule = _rule_of_type(type_text, choices)
            if rule.kind == "bool":
                arity = "optional"  # the option alone means true (see checked_arguments)
            yield name, replace(rule, arity=arity, default=None if default in ("", "null") else default)


def _split_type(type_text: str) -> list[str]:
    """``Union[int, float, null]``, ``int | null`` and ``Optional[int]`` -> ``["int", "float", "null"]``."""
    text = type_text.strip()
    if text.startswith("Optional[") and text.endswith("]"):
        return [*_split_type(text[len("Optional[") : -1]), "null"]
    if text.startswith("Union[") and text.endswith("]"):
        text = text[len("Union[") : -1]
    # At each separator outside brackets: ``Literal['a', 'b']`` and ``dict[str, int]`` are one part.
    return [part.strip() for part in re.split(r"[,|](?![^\[]*\])", text) if part.strip()]


def _rule_of_type(type_text: str, choices: tuple[str, ...]) -> Rule:
    parts = _split_type(type_text)
    nullable = "null" in parts or "null" in choices
    kinds = [part for part in parts if part != "null"]
    literals = [word for part in kinds if part.startswith("Literal[") for word in re.findall(r"'([^']*)'|(-?\d+)", part)]
    words = tuple(quoted or bare for quoted, bare in literals)
    plain = [part for part in kinds if not part.startswith("Literal[")]
    if choices and set(choices) <= {"true", "false", "null"}:
        return Rule("bool", nullable=nullable)
    if choices:
        return Rule("choice", choices=tuple(c for c in choices if c != "null"), nullable=nullable)
    if plain == ["int"]:
        return whole(nullable=nullable)
    if plain and set(plain) <= {"float", "int"}:
        return number(nullable=nullable)
    if plain == ["bool"] and not words:
        return Rule("bool", nullable=nullable)
    if plain and set(plain) <= {"str", "Path"}:
        return Rule("text", nullable=nullable)
    if plain == ["str", "list[str]"]:
        return Rule("paths", nullable=nullable, give=f"give an image folder or file; {SEVERAL_PATHS}")
    if not plain and words:
        return Rule("choice", choices=words, nullable=nullable)
    if set(plain) == {"bool", "int"}:
        return Rule("int_or_bool", nullable=nullable)
    if plain == ["bool"] and words:
        return Rule("bool_or_choice", choices=words, nullable=nullable)
    return Rule("any")


# ---- argparse tools: their parsers -----------------------------------------------------------


@cache
def parser(command: str) -> argparse.ArgumentParser:
    """The argparse parser of a tool (each lives in the module named after it)."""
    return importlib.import_module(f"clipstyler_fast.cli.{command}").build_parser()


def _parser_rules(parser: argparse.ArgumentParser) -> Iterator[tuple[str, Rule]]:
    for action in parser._actions:
        rule = Rule("flag", arity="none") if action.nargs == 0 else _rule_of_action(action)
        for name in action.option_strings:
            yield name, rule


def _rule_of_action(action: argparse.Action) -> Rule:
    if isinstance(action.type, Rule):
        rule = action.type
    elif action.choices:
        rule = Rule("choice", choices=tuple(str(choice) for choice in action.choices))
    else:
        rule = TEXT
    arity = "optional" if action.nargs == "?" else "many" if action.nargs not in (None, 1) else "one"
    default = None if action.default is None or isinstance(action.default, (list, tuple)) else str(action.default)
    return replace(rule, arity=arity, default=default)
