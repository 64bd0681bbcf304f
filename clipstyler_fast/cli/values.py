"""What a value given to an option may be: its kind (whole number, number, boolean, one of some
choices, text, ...) and its range, read from the text the user typed.

A :class:`Rule` answers two questions about the text of one value: what is wrong with it (in
words, with what to give instead), and what it means (an ``int``, a ``float``, ...). The
argparse tools use rules as their option types; :mod:`clipstyler_fast.cli.option_table` gives
every option of every command its rule and checks a command line before anything heavy loads.

The readers accept what the commands' parsers accept (argparse's ``int``/``float``, and
LightningCLI's YAML values: ``1_000``, ``0x10``, ``.5``, ``null``), so that a check here never
refuses a value the command would take. This module imports nothing but the standard library.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Literal

# Tiles start and end on multiples of this (clipstyler_fast.infer.tiling.GRID; a test keeps them equal).
GRID = 8

Kind = Literal[
    "int",  # a whole number
    "float",  # a finite number
    "bool",  # true or false
    "choice",  # one of ``choices``
    "text",  # any text but an empty one (a name, a prompt, a path)
    "paths",  # a path, or a list of them: ``[a,b]``
    "alphas",  # blend factors in [0, 1], comma-separated
    "int_or_bool",  # a whole number, or true or false
    "bool_or_choice",  # true or false, or one of ``choices``
    "refused",  # an option this command does not take: ``give`` says what to use instead
    "flag",  # takes no value (``--help``)
    "any",  # a value only the command's own parser can judge (a class path, a duration, ...)
]
Arity = Literal["one", "optional", "many", "none"]

BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
# What YAML (LightningCLI's reader) takes for "no value".
NULL_WORDS = ("null", "Null", "NULL", "~")
_NOT_FINITE = re.compile(r"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")
_SEXAGESIMAL = re.compile(r"^[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+$")


def read_whole(text: str) -> int | None:
    """``text`` as a whole number (``12``, ``+12``, ``012``, ``1_000``, ``0x10``, ``1:30``), or None."""
    word = text.strip().replace("_", "")
    for base in (10, 0):
        try:
            return int(word, base)
        except ValueError:
            pass
    if not _SEXAGESIMAL.match(word):
        return None
    total = 0
    for part in word.lstrip("+-").split(":"):  # YAML 1.1 reads 1:30 as 90
        total = total * 60 + int(part)
    return -total if word.startswith("-") else total


def read_number(text: str) -> float | None:
    """``text`` as a number, nan and infinities included (``1e-4``, ``.5``, ``.inf``), or None."""
    word = text.strip()
    if _NOT_FINITE.match(word):
        return float(word.replace(".", "", 1))
    try:
        return float(word.replace("_", ""))
    except ValueError:
        whole = read_whole(word)
        return None if whole is None else float(whole)


def read_bool(text: str) -> bool | None:
    """``true``/``false`` (also yes/no, on/off, 1/0, in any case), or None."""
    return BOOL_WORDS.get(text.strip().lower())


def read_list(text: str) -> list[str] | None:
    """``[a,b]`` (LightningCLI's list syntax) as its items, or None when ``text`` is not a list."""
    word = text.strip()
    if not (word.startswith("[") and word.endswith("]")):
        return None
    inner = word[1:-1].strip()
    return [item.strip().strip("'\"") for item in inner.split(",")] if inner else []


@dataclass(frozen=True)
class Rule:
    """What one option takes. ``least``/``most`` bound the value (``above``: strictly),
    ``multiple`` asks for a multiple of it, ``also`` lists whole numbers taken outside the range
    (-1: no limit); ``give`` replaces the generic "give ..." advice, and ``zero`` says what 0
    would mean where it is out of range. Called with a text, a rule is an argparse type: it
    returns the value or raises :class:`argparse.ArgumentTypeError` with the one-line reason."""

    kind: Kind
    least: float | None = None
    most: float | None = None
    above: float | None = None
    multiple: int | None = None
    also: tuple[int, ...] = ()
    nullable: bool = False
    choices: tuple[str, ...] = ()
    give: str = ""
    zero: str = ""
    arity: Arity = "one"
    default: str | None = field(default=None, compare=False)

    def problem(self, text: str) -> str | None:
        """What is wrong with ``text`` as this option's value and what to give instead, or None."""
        if self.kind in ("any", "flag"):
            return None
        if self.kind == "refused":
            return self.give
        if self.nullable and text.strip() in NULL_WORDS:
            return None
        if not text.strip():
            return f"empty; {self.advice()}"
        if self.kind == "alphas":
            try:
                parse_alphas(text)
            except argparse.ArgumentTypeError as error:
                return str(error)  # says what to give already
            return None
        wrong = self._wrong(text)
        return None if wrong is None else f"{wrong}; {self.advice()}"

    def _wrong(self, text: str) -> str | None:
        if self.kind == "int":
            count = read_whole(text)
            return "not a whole number" if count is None else self._out_of_range(count)
        if self.kind == "float":
            value = read_number(text)
            if value is None:
                return "not a number"
            return "not a finite number" if not math.isfinite(value) else self._out_of_range(value)
        if self.kind == "bool":
            return None if read_bool(text) is not None else "not true or false"
        if self.kind == "choice":
            return None if text.strip() in self.choices else f"not one of {', '.join(self.choices)}"
        if self.kind == "int_or_bool":
            count = read_whole(text)
            if count is not None:
                return self._out_of_range(count)
            return None if read_bool(text) is not None else "neither a whole number nor true or false"
        if self.kind == "bool_or_choice":
            taken = read_bool(text) is not None or text.strip() in self.choices
            return None if taken else f"not true, false or {' or '.join(self.choices)}"
        if self.kind == "paths":
            items = read_list(text)
            return "an empty list or an empty item" if items is not None and not all(items or [""]) else None
        return None

    def _out_of_range(self, value: float) -> str | None:
        if int(value) == value and int(value) in self.also:
            return None
        low = (self.least is not None and value < self.least) or (self.above is not None and value <= self.above)
        high = self.most is not None and value > self.most
        if value == 0 and low and self.zero:
            return self.zero
        if (low or high) and self.most is not None and (self.least is not None or self.above is not None):
            return f"outside {self._interval()}"
        if low and self.above is not None:
            return f"must be above {self.above:g}"
        if low:
            return "must be 0 or more" if self.least == 0 else f"must be at least {self.least or 0:g}"
        if high:
            return f"must be at most {self.most or 0:g}"
        if self.multiple and int(value) % self.multiple:
            return f"not a multiple of {self.multiple}"
        return None

    def _interval(self) -> str:
        start = f"[{self.least:g}" if self.least is not None else f"({self.above or 0:g}"
        return f"{start}, {self.most or 0:g}]"

    def advice(self) -> str:
        """What to give, in words: ``give a whole number of at least 1``."""
        if self.give:
            return self.give
        if self.kind == "bool":
            return "give true or false, or the option alone for true"
        if self.kind == "choice":
            return f"give one of {', '.join(self.choices)}"
        if self.kind == "bool_or_choice":
            return f"give true, false or {' or '.join(self.choices)}"
        if self.kind == "int_or_bool":
            return "give a whole number" + self._range_words() + ", or true or false"
        if self.kind == "alphas":
            return "give comma-separated blend factors in [0, 1], e.g. 0,0.5,1"
        if self.kind in ("int", "float"):
            what = f"a multiple of {self.multiple}" if self.multiple else "a whole number" if self.kind == "int" else "a number"
            return f"give {what}{self._range_words()}"
        return "give a non-empty value"

    def _range_words(self) -> str:
        if self.most is not None and (self.least is not None or self.above is not None):
            return f" in {self._interval()}"
        if self.above is not None:
            return f" above {self.above:g}"
        if self.least is not None:
            return ", 0 or more" if self.least == 0 else f" of at least {self.least:g}"
        if self.most is not None:
            return f" of at most {self.most:g}"
        return ""

    def __call__(self, text: str) -> Any:
        problem = self.problem(text)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{shlex.quote(text)}: {problem}")
        if self.nullable and text.strip() in NULL_WORDS:
            return None
        if self.kind == "int_or_bool":
            return read_whole(text) if read_whole(text) is not None else read_bool(text)
        reader = {"int": read_whole, "float": read_number, "bool": read_bool, "alphas": parse_alphas}.get(self.kind)
        return text if reader is None else reader(text)


def whole(least: float | None = None, most: float | None = None, **more: Any) -> Rule:
    """A whole number, optionally within ``[least, most]``."""
    return Rule("int", least=least, most=most, **more)


def number(least: float | None = None, most: float | None = None, **more: Any) -> Rule:
    """A finite number, optionally within ``[least, most]`` (``above=``: strictly)."""
    return Rule("float", least=least, most=most, **more)


POSITIVE = whole(1)
NON_NEGATIVE = whole(0)
# Options that take true/false also take the option alone, for true.
FLAG = Rule("bool", arity="optional")
TEXT = Rule("text")
UNIT = number(0, 1)
STRENGTH = number(0, 1, give="give a number in [0, 1]: 0 keeps the photo unchanged, 1 gives the full style")
WEIGHT = number(0, give="give a finite weight, 0 or more (0 turns the term off)")
# 0 is taken: a run that leaves the weights as they start is how a start is checked.
LEARNING_RATE = number(0, give="give a finite learning rate, 0 or more (0 leaves the weights as they start), e.g. 0.0001")
STEPS = whole(1, also=(-1,), zero="trains nothing", give="give a number of optimizer steps, at least 1, or -1 for no limit")
ALPHAS = Rule("alphas")
EPOCHS = whole(1, also=(-1,), zero="trains nothing", give="give a number of epochs, at least 1, or -1 for no limit")


def parse_alphas(text: str) -> list[float]:
    """``"0,0.25,0.5"`` -> ``[0.0, 0.25, 0.5]``: the one reader of alpha lists (argparse type)."""
    try:
        values = [float(part) for part in text.strip("[]").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers, e.g. 0,0.25,0.5,0.75,1") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one alpha, e.g. 0,0.5,1")
    bad = [value for value in values if not 0.0 <= value <= 1.0]  # also refuses nan
    if bad:
        raise argparse.ArgumentTypeError(f"alpha {bad[0]:g} is outside [0, 1]; 0 gives the first style, 1 the second")
    return values


def tile_problem(tile: int, overlap: int) -> str | None:
    """What is wrong with tiles of side ``tile`` overlapping by ``overlap`` (the rule of
    :func:`clipstyler_fast.infer.tiling.tile_spans`), or None."""
    if tile % GRID:
        return f"--tile_size {tile}: not a multiple of {GRID}; give a multiple of {GRID}, at least 3 x --tile_overlap ({3 * overlap})"
    if overlap < 0 or overlap % GRID:
        return f"--tile_overlap {overlap}: not a multiple of {GRID}, 0 or more; give one, at most a third of --tile_size ({tile})"
    if tile < (least := max(3 * overlap, GRID)):
        return (
            f"--tile_size {tile}: below 3 x --tile_overlap {overlap}, so tiles' overlaps would meet; "
            f"give a --tile_size of at least {least}, or a smaller --tile_overlap"
        )
    return None
