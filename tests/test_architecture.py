"""The package's shape: layers that import only what lies below them, no cycles, short functions,
a light ``import clipstyler_fast`` and a help text that needs no torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from support import imported_modules, run_cli

PACKAGE = Path(__file__).resolve().parents[1] / "clipstyler_fast"
# Lower numbers lie lower; a module may import its own layer's modules and any lower layer.
LAYERS = {
    "constants": 0,
    "errors": 0,
    "precision": 0,
    "io": 1,
    "nets": 2,
    "objective": 2,
    "infer": 3,
    "eval": 4,
    "train": 5,
    "demo": 6,
    "cli": 7,
}
# A function longer than this does several things: split it where it changes subject.
MAX_FUNCTION_LINES = 60
BENCHMARKS = PACKAGE.parent / "benchmarks"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every clipstyler_fast module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clipstyler_fast"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("clipstyler_fast"))
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_layer_imports_only_itself_and_the_layers_below() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        own = layer(module)
        if own is None:
            continue
        for target in targets:
            other = layer(target)
            if other is not None and other != own and LAYERS[other] >= LAYERS[own]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_inference_never_imports_training_and_nothing_imports_the_command_line() -> None:
    assert not [(m, t) for m, ts in GRAPH.items() if layer(m) == "infer" for t in ts if layer(t) == "train"]
    assert not [(m, t) for m, ts in GRAPH.items() if layer(m) not in ("cli", None) for t in ts if layer(t) == "cli"]


def test_no_import_cycles_even_through_imports_inside_functions() -> None:
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in GRAPH[node]:
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_functions_are_short() -> None:
    long = {}
    for path in [*PACKAGE.rglob("*.py"), *BENCHMARKS.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                name = f"{path.relative_to(PACKAGE.parent)} {node.name}"
                if length > MAX_FUNCTION_LINES:
                    long[name] = length
    assert not long, long


def test_importing_the_python_api_does_not_import_lightning() -> None:
    code = "import sys, clipstyler_fast; clipstyler_fast.Stylizer; print('lightning' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_the_commands_help_imports_no_torch() -> None:
    result = run_cli("--help", python=("-X", "importtime"))
    assert result.returncode == 0 and "usage: clipstyler-fast COMMAND" in result.stdout
    imported = imported_modules(result.stderr)
    assert "clipstyler_fast" in imported
    assert not {name for name in imported if name.split(".")[0] in ("torch", "lightning", "torchvision")}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (documentation, not messages)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


# Modules below the command line that write command lines for a person to type: the usage
# section of a shared style's model card, and the command that resumes a stopped training run.
WRITES_COMMAND_LINES = {"clipstyler_fast.infer.model_card", "clipstyler_fast.train.preemption"}


def test_no_module_below_the_command_line_names_a_flag() -> None:
    """Errors and warnings below ``cli/`` name parameters (`batch_size`); only ``cli/`` knows flags."""
    from clipstyler_fast.cli.main import COMMANDS
    from clipstyler_fast.cli.option_table import table

    flags = {option for command in COMMANDS for option in table(command)}
    named = []
    for module, path in MODULES.items():
        if layer(module) == "cli" or module in WRITES_COMMAND_LINES:
            continue
        tree = ast.parse(path.read_text())
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                named += [f"{module}: {flag}" for flag in re.findall(r"(?<![\w.-])--[A-Za-z][\w.]*\w", node.value) if flag in flags]
    assert len(flags) > 100
    assert not named, named
