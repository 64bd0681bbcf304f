"""Any prompt in the synthetic world: seen prompts, unseen prompts, and refining.

Trains one any-prompt network through ``python -m clipstyler_fast fit --data.prompts`` on a bank
of the world's colour words without the held-out ones, and per-prompt networks for some seen and
every held-out word through the same CLI and recipe; predicts the held-out photos with all of
them through ``predict`` (``--prompt`` for the any-prompt network) and reports the pixel judge's
shift toward each style (beyond the start decoder, in content spreads). Then it refines the
any-prompt network to each held-out word (``fit --model.init_from``) and compares its training
loss curve with the per-prompt run's from the start decoder.

    python -m benchmarks.fidelity.any_prompt --workdir /tmp/anyp
    python -m benchmarks.fidelity.any_prompt --smoke        # seconds-scale check of the script
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import tempfile
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import judge, run, world  # noqa: E402

DEFAULT_HELD_OUT = ("green",)
DEFAULT_SEEN = ("red", "yellow", "purple")
SMOOTHING = 10  # steps of the moving average the loss curves are compared with


def without_prompt(args: list[str]) -> list[str]:
    i = args.index("--model.prompt")
    return args[:i] + args[i + 2 :]


def _logged(args: list[str], folder: Path) -> list[str]:
    """``args`` with a CSV log of every step's losses in ``folder`` (last: overrides the recipe's no logger)."""
    logger = ["--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", str(folder)]
    return [*args, *logger, "--trainer.log_every_n_steps", "1"]


def loss_curve(folder: Path) -> list[float]:
    """``train/loss`` per optimizer step from a CSVLogger folder."""
    rows = list(csv.DictReader(next(folder.rglob("metrics.csv")).open()))
    return [float(r["train/loss"]) for r in rows if r.get("train/loss")]


def smoothed(values: list[float], window: int = SMOOTHING) -> list[float]:
    return [sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]


def steps_to_reach(curve: list[float], target: float) -> int | None:
    """First step (1-based) at which the smoothed curve is at or below ``target``."""
    return next((i + 1 for i, v in enumerate(smoothed(curve)) if v <= target), None)


def predict_prompts(setup: run.Setup, ckpt: Path, prompts: list[str], out: Path) -> dict[str, torch.Tensor]:
    """Held-out photos through ``predict --prompt`` (all prompts in one run), as tensors per prompt."""
    from clipstyler_fast.train.run_folder import slugify

    run.predict_heldout(setup, ckpt, out, [*(a for p in prompts for a in ("--prompt", p)), "--model.clip_model", str(setup.clip)])
    return {p: run.load_outputs(setup, out / slugify(p)) for p in prompts}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--held-out", default=",".join(DEFAULT_HELD_OUT), help="colour words kept out of the bank")
    parser.add_argument("--seen", default=",".join(DEFAULT_SEEN), help="bank words that also get a per-prompt network")
    parser.add_argument("--any-steps", type=int, default=1000, help="steps of the any-prompt network")
    parser.add_argument("--steps", type=int, default=200, help="steps of each per-prompt and refine run (the reference's 200)")
    parser.add_argument("--any-args", default="", help='extra options of the any-prompt fit (quoted), e.g. "--model.mix_prompts 0.5"')
    parser.add_argument("--clip", type=Path, default=None)
    parser.add_argument("--clip-steps", type=int, default=600)
    parser.add_argument("--vgg", type=Path, default=None)
    parser.add_argument("--decoder", type=Path, default=None)
    parser.add_argument("--decoder-steps", type=int, default=None, help="as in python -m benchmarks.fidelity --help")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny everything: checks the script runs, measures nothing")
    return parser


def train_any_prompt(setup: run.Setup, args: argparse.Namespace, bank: list[str]) -> Path:
    """The any-prompt network on ``bank``, through ``fit`` with the reference recipe; its style file."""
    workdir = setup.workdir
    bank_file = workdir / "bank.txt"
    bank_file.write_text("\n".join(bank) + "\n")
    recipe = without_prompt(run.fit_command(setup, "red", args.any_steps, 4, 64, shlex.split(args.any_args)))
    any_args = [*recipe, "--data.prompts", str(bank_file), "--model.holdout_prompts", "0"]
    run.run_cli([*any_args, "--trainer.default_root_dir", str(workdir / "runs" / "any")], cwd=workdir)
    return workdir / "checkpoints" / "any-prompt" / "style.ckpt"


def per_prompt_runs(
    setup: run.Setup, args: argparse.Namespace, names: list[str], held_out: list[str], any_ckpt: Path, outputs: dict[str, torch.Tensor]
) -> dict[str, dict[str, list[float]]]:
    """A per-prompt network for each name (its outputs added to ``outputs``) and, for the held-out
    ones, a refine run from the any-prompt network; returns both runs' loss curves per held-out name."""
    workdir = setup.workdir
    curves: dict[str, dict[str, list[float]]] = {}
    for name in names:
        logged = _logged(run.fit_command(setup, name, args.steps, 4, 64, []), workdir / "logs" / f"{name}-scratch")
        run.run_cli(logged, cwd=workdir)
        per_prompt = run._checkpoint_of(list((workdir / "checkpoints").glob("*/style.ckpt")), world.PROMPTS[name])
        run.predict_heldout(setup, per_prompt, workdir / "per-prompt-out" / name)
        outputs[f"{name}:per-prompt"] = run.load_outputs(setup, workdir / "per-prompt-out" / name)
        if name in held_out:
            refine = [*run.fit_command(setup, name, args.steps, 4, 64, ["--model.init_from", str(any_ckpt)])]
            refine = _logged([*refine, "--checkpoint.root", str(workdir / "refined")], workdir / "logs" / f"{name}-refine")
            run.run_cli(refine, cwd=workdir)
            curves[name] = {
                "scratch": loss_curve(workdir / "logs" / f"{name}-scratch"),
                "refine": loss_curve(workdir / "logs" / f"{name}-refine"),
            }
    return curves


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = dict(train_photos=24, heldout_photos=12, photo_size=96)
    if args.smoke:
        args.any_steps, args.steps, args.clip_steps, args.decoder_steps = 2, 2, 5, 2
        args.seen = "red"
        sizes = dict(train_photos=4, heldout_photos=2, photo_size=64)
    held_out = [s.strip() for s in args.held_out.split(",") if s.strip()]
    seen = [s.strip() for s in args.seen.split(",") if s.strip()]
    bank = [world.PROMPTS[name] for name in world.TINTS if name not in held_out]
    names = seen + held_out

    with tempfile.TemporaryDirectory(prefix="any-prompt-") as scratch:
        workdir = (args.workdir or Path(scratch)).resolve()
        steps = args.decoder_steps if args.decoder_steps is not None else run.default_decoder_steps(args.vgg)
        setup = run.prepare(workdir, args.clip, args.vgg, args.decoder, args.clip_steps, steps, **sizes)
        any_ckpt = train_any_prompt(setup, args, bank)
        prompts = [world.PROMPTS[n] for n in names]
        outputs = {f"{n}:any": img for n, img in zip(names, predict_prompts(setup, any_ckpt, prompts, workdir / "any-out").values())}
        curves = per_prompt_runs(setup, args, names, held_out, any_ckpt, outputs)
        content = run.heldout(setup)
        baseline = run.decoder_only(setup, content)
        shifts = judge.shifts(outputs, content, baseline)
    print(report(shifts, curves, bank, held_out, names, args))
    if args.json:
        args.json.write_text(json.dumps({"shifts": shifts, "curves": curves, "bank": bank, "held_out": held_out}, indent=1))
    return 0


def report(shifts: dict, curves: dict, bank: list[str], held_out: list[str], names: list[str], args: argparse.Namespace) -> str:
    lines = [
        f"any-prompt network: {args.any_steps} steps{' + ' + args.any_args if args.any_args else ''} over a bank of "
        f"{len(bank)} colour words ({', '.join(bank)}); "
        f"per-prompt and refine runs: {args.steps} steps; held-out photos; shifts of each style's own statistic "
        "beyond the start decoder, in content spreads",
        "",
        "| prompt | in the bank | any-prompt network | per-prompt network | any-prompt / per-prompt "
        "| edges kept (any / per-prompt) | flags (any / per-prompt) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in names:
        any_row, own_row = shifts[f"{name}:any"], shifts[f"{name}:per-prompt"]
        a, p = any_row["vs_decoder"], own_row["vs_decoder"]
        ratio = a / p if abs(p) > 1e-6 else float("nan")
        lines.append(
            f"| {world.PROMPTS[name]} | {'no (unseen)' if name in held_out else 'yes'} | {a:+.2f} | {p:+.2f} | {ratio:.2f} "
            f"| {any_row['edges']:.2f} / {own_row['edges']:.2f} | {judge.flag_words(any_row)} / {judge.flag_words(own_row)} |"
        )
    for name, curve in curves.items():
        scratch, refine = curve["scratch"], curve["refine"]
        target = sum(scratch[-SMOOTHING:]) / len(scratch[-SMOOTHING:])
        reached = steps_to_reach(refine, target)
        lines += [
            "",
            f"Refine {world.PROMPTS[name]!r}: the per-prompt run from the start decoder ends at a training loss of {target:.3f} "
            f"(mean of its last {SMOOTHING} steps); starting from the any-prompt network, the run's {SMOOTHING}-step mean "
            f"reaches it at step {reached} of {len(refine)}"
            + (f" ({reached / len(scratch):.0%} of the steps)" if reached else " (not reached)"),
            "",
            "| step | " + " | ".join(str(s) for s in _marks(len(scratch))) + " |",
            "| --- |" + " ---: |" * len(_marks(len(scratch))),
            "| from the start decoder | " + " | ".join(f"{smoothed(scratch)[s - 1]:.3f}" for s in _marks(len(scratch))) + " |",
            "| refined from any-prompt | " + " | ".join(f"{smoothed(refine)[s - 1]:.3f}" for s in _marks(len(refine))) + " |",
        ]
    return "\n".join(lines)


def _marks(steps: int) -> list[int]:
    return sorted({max(1, round(steps * f)) for f in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)})


if __name__ == "__main__":
    sys.exit(main())
