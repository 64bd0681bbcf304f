"""Does a distilled student keep its teacher's style? Measured in the synthetic world, through the CLI.

For each style (default: a colour, ``red``, and a texture, ``stripes``) this trains the teacher
with ``python -m clipstyler_fast fit`` (the reference recipe, as ``run.py`` does), distills it with
``python -m clipstyler_fast distill``, stylizes the held-out photos with both through
``python -m clipstyler_fast predict``, and prints per style: the student's PSNR and SSIM against
the teacher's outputs, and the pixel judge's shift toward the style (``judge.py``, never CLIP) of
the teacher's outputs and of the student's, with their ratio.

    python -m benchmarks.fidelity.distill                     # red and stripes, about 45 minutes on 2 cores
    python -m benchmarks.fidelity.distill --workdir W --reuse-teachers --styles stripes --distill-steps 12000
                                                              # the texture again, longer, from W's teacher
    python -m benchmarks.fidelity.distill --workdir W --reuse-teachers --resume-students ...
                                                              # an interrupted run goes on where it stopped
    python -m benchmarks.fidelity.distill --clip W/world-clip.pt --vgg W/vgg19-world.pth --decoder W/start-decoder.pt
    python -m benchmarks.fidelity.distill --smoke             # seconds-scale check of the script
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fidelity import judge, run, world  # noqa: E402


def distill_photos(setup: run.Setup, count: int) -> Path:
    """The folder the students learn from: the teachers' training photos, or ``count`` fresh world
    photos (a student needs no labels, so its photos cost nothing; none is a held-out one)."""
    if not count:
        return setup.train_dir
    folder = setup.workdir / "content" / "distill"
    if len(list(folder.glob("*.png"))) != count:
        world.save_photos(folder, count, 96, seed=300, prefix="distill")
    return folder


def distill_command(
    setup: run.Setup, teacher: Path, steps: int, extra: list[str], photos: Path, crop_size: int, resume: bool = False
) -> list[str]:
    """The ``distill`` arguments of one style, learning from ``photos``, then ``extra`` (``resume``:
    continue the run an interrupted benchmark left in the workdir, from its ``last.ckpt``).

    The crops are whole world photos (``crop_size``, the held-out photos' size): the style sees
    about 130 px around each pixel, so what it draws in a 64 px crop of a photo is not what it
    draws there in the whole photo, and a student learning from such crops learns the wrong one."""
    start = ["--model.teacher", str(teacher), "--ckpt_path", "last"] if resume else ["--ckpt_path", str(teacher)]
    return [
        "distill", *start, "--model.vgg_weights", str(setup.vgg), "--data.path", str(photos),
        "--data.crop_size", str(crop_size), "--data.batch_size", "8", "--data.num_workers", "0", "--seed_everything", "0",
        "--model.preview_every_n_steps", "0", "--trainer.max_steps", str(steps), "--trainer.accelerator", "cpu",
        "--trainer.logger", "false", "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
        "--trainer.enable_progress_bar", "false", "--checkpoint.root", str(setup.workdir / "students"),
        "--checkpoint.overwrite", "true", *extra,
    ]  # fmt: skip


def predict(setup: run.Setup, checkpoint: Path, name: str) -> torch.Tensor:
    """The held-out photos stylized by ``checkpoint`` through the CLI, as a batch."""
    out_dir = setup.workdir / "predicted" / name
    run.predict_heldout(setup, checkpoint, out_dir)
    return run.load_outputs(setup, out_dir)


def psnr(images: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB over the whole batch (images in [0, 1])."""
    return float(-10 * torch.log10(torch.mean((images.float() - reference.float()) ** 2).clamp_min(1e-12)))


def teacher_of(setup: run.Setup, style: str) -> Path | None:
    """The teacher a run in this workdir already trained for ``style``, if any."""
    try:
        return run._checkpoint_of(list((setup.workdir / "checkpoints").glob("*/style.ckpt")), world.PROMPTS[style])
    except FileNotFoundError:
        return None


def measure(
    setup: run.Setup,
    style: str,
    steps: int,
    distill_steps: int,
    fit_args: list[str],
    distill_args: list[str],
    reuse: bool = False,
    photos: int = 0,
    crop_size: int = 96,
    resume: bool = False,
) -> dict:
    """Teacher and student of one style, and how close the student comes (``reuse``: the teacher
    already in the workdir; ``resume``: continue the student's interrupted distillation there)."""
    start = time.time()
    teacher = teacher_of(setup, style) if reuse else None
    if teacher is None:
        teacher_out = run.train_and_predict(setup, style, steps, extra=fit_args)
        teacher = teacher_of(setup, style)
    else:
        teacher_out = predict(setup, teacher, style)
    assert teacher is not None
    trained = time.time()
    # No time limit: a distillation of many steps takes the better part of an hour per 10000 steps here.
    command = distill_command(setup, teacher, distill_steps, distill_args, distill_photos(setup, photos), crop_size, resume)
    run.run_cli(command, cwd=setup.workdir, timeout=None)
    distilled = time.time()
    student = next((setup.workdir / "students").glob(f"{teacher.parent.name}-student/student.ckpt"))
    student_out = predict(setup, student, f"{style}-student")
    content = run.heldout(setup)
    baseline = run.decoder_only(setup, content)
    teacher_row = judge.shifts({style: teacher_out}, content, baseline)[style]
    student_row = judge.shifts({style: student_out}, content, baseline)[style]
    teacher_shift, student_shift = teacher_row["vs_content"], student_row["vs_content"]
    return {
        "teacher_edges": teacher_row["edges"],
        "student_edges": student_row["edges"],
        "flags": f"{judge.flag_words(teacher_row)} / {judge.flag_words(student_row)}",
        "style": style,
        "psnr": psnr(student_out, teacher_out),
        "ssim": float(judge.content_ssim(student_out, teacher_out).mean()),
        "teacher_shift": teacher_shift,
        "student_shift": student_shift,
        "shift_ratio": student_shift / teacher_shift if abs(teacher_shift) > 1e-9 else float("nan"),
        "teacher_s": trained - start,
        "distill_s": distilled - trained,
        "student_bytes": student.stat().st_size,
        "teacher_bytes": teacher.stat().st_size,
    }


def format_table(rows: list[dict]) -> str:
    text = (
        "| prompt | student PSNR vs teacher | student SSIM vs teacher | teacher shift | student shift | ratio "
        "| edges kept (teacher / student) | flags (teacher / student) | student file |\n"
    )
    text += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n"
    for r in rows:
        text += (
            f"| {r['style']} | {r['psnr']:.1f} dB | {r['ssim']:.3f} | {r['teacher_shift']:+.2f} | {r['student_shift']:+.2f} | "
            f"{r['shift_ratio']:.0%} | {r['teacher_edges']:.2f} / {r['student_edges']:.2f} | {r['flags']} "
            f"| {r['student_bytes'] / 1024:.0f} KiB |\n"
        )
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="where runs, weights and outputs go (default: a temporary folder)")
    parser.add_argument("--styles", default="red,stripes", help=f"comma-separated, from {', '.join(world.STYLES)}")
    parser.add_argument("--steps", type=int, default=200, help="fit steps of each teacher (the reference's 200)")
    parser.add_argument("--distill-steps", type=int, default=6000, help="distill steps of each student")
    parser.add_argument("--fit-args", default="", help="extra fit options, appended last (quoted)")
    parser.add_argument("--distill-photos", type=int, default=8192, help="fresh world photos the students learn from (0: the teachers' 24)")
    parser.add_argument(
        "--distill-args", default="", help='extra distill options, appended last (quoted), e.g. "--model.widths [24,48,96]"'
    )
    parser.add_argument("--clip", type=Path, default=None, help="a world CLIP file (default: train one)")
    parser.add_argument("--vgg", type=Path, default=None, help="VGG-19 weights file (default: the world's, world_vgg.py)")
    parser.add_argument("--decoder", type=Path, default=None, help="start decoder state dict (default: train one)")
    parser.add_argument("--reuse-teachers", action="store_true", help="distill the teachers an earlier run left in --workdir")
    parser.add_argument(
        "--resume-students",
        action="store_true",
        help="with --reuse-teachers: continue each student's distillation an interrupted run left in --workdir (exact resume)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny everything (2 distill steps unless given): checks the script runs, measures nothing"
    )
    return parser


@dataclass
class Sizes:
    """How much the world weights train and how many photos of what size the run uses."""

    clip_steps: int
    decoder_steps: int
    train_photos: int
    heldout_photos: int
    photo_size: int


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, Sizes, list[str]]:
    """The options (``--smoke``'s tiny counts applied), the run's sizes and the styles named."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.resume_students and not args.reuse_teachers:
        parser.error("--resume-students continues students of the teachers in --workdir: add --reuse-teachers")
    sizes = Sizes(300, run.default_decoder_steps(args.vgg), 24, 12, 96)
    if args.smoke:
        args.steps, args.distill_photos = 1, 4
        if args.distill_steps == parser.get_default("distill_steps"):  # a count given is kept (to check resuming)
            args.distill_steps = 2
        sizes = Sizes(5, 2, 4, 2, 64)
    return args, sizes, run.parse_styles(parser, args.styles)


def main(argv: list[str] | None = None) -> int:
    args, sizes, styles = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="fidelity-distill-") as scratch:
        workdir = (args.workdir or Path(scratch)).resolve()
        setup = run.prepare(
            workdir,
            args.clip,
            args.vgg,
            args.decoder,
            sizes.clip_steps,
            sizes.decoder_steps,
            sizes.train_photos,
            sizes.heldout_photos,
            sizes.photo_size,
        )
        fit_args, distill_args = shlex.split(args.fit_args), shlex.split(args.distill_args)
        rows = [
            measure(
                setup,
                style,
                args.steps,
                args.distill_steps,
                fit_args,
                distill_args,
                args.reuse_teachers,
                args.distill_photos,
                sizes.photo_size,
                args.resume_students,
            )
            for style in styles
        ]
    header = (
        f"teachers: fit {args.steps} steps (reference recipe{' + ' + args.fit_args if args.fit_args else ''}); students: distill "
        f"{args.distill_steps} steps on {args.distill_photos or sizes.train_photos} photos{' + ' + args.distill_args if args.distill_args else ''}; "
        f"{sizes.heldout_photos} held-out photos of "
        f"{sizes.photo_size} px; shifts toward each style vs content, in content spreads (judge.py)"
    )
    timings = "; ".join(f"{r['style']}: fit+predict {r['teacher_s']:.0f} s, distill {r['distill_s']:.0f} s" for r in rows)
    print(f"{header}\n{'; '.join(setup.log + [timings])}\n\n{format_table(rows)}")
    if args.json:
        args.json.write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
