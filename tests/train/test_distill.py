"""``clipstyler-fast distill``: a student trained to reproduce a style, read back like any style file."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from support import TESTS, distill_args, fit_args, make_photo, run_cli, style_checkpoint
from torchvision.transforms.functional import pil_to_tensor

from clipstyler_fast import Stylizer
from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.any_prompt import load_style
from clipstyler_fast.nets.student import StudentConfig, build_student
from clipstyler_fast.nets.style_file import StyleFile

STEPS = 20


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, content_dir: Path) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("teacher"), "Mosaic", trained=(clip_path, vgg_path, content_dir))


@pytest.fixture(scope="module")
def student(style: Path, content_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student distilled through the real command, in a subprocess."""
    root = tmp_path_factory.mktemp("students")
    done = run_cli(*distill_args(style, content_dir, root, "--model.preview_every_n_steps", "10", "--trainer.default_root_dir", str(root)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{root / 'mosaic-student' / 'student.ckpt'} (predict)" in done.stderr + done.stdout
    # Preview grids: a row of held-out photos (2, 32 px crops), the teacher's outputs, the student's.
    grid = Image.open(root / "previews" / f"step_{STEPS:06d}.png")
    assert grid.size == (2 * 34 + 2, 3 * 34 + 2)
    return root / "mosaic-student" / "student.ckpt"


def held_out_photos() -> torch.Tensor:
    """Photos the student never saw (other seeds and sizes than the content folder's)."""
    return torch.stack([pil_to_tensor(make_photo(64, 48, seed=100 + i)).float() / 255 for i in range(4)])


def test_student_file_records_its_network_and_stylizer_runs_it_as_its_own_forward(student: Path, style: Path) -> None:
    file = StyleFile.read(student)
    record = file.record
    assert (record.network, record.prompt, record.teacher) == ("student", "Mosaic", str(style))
    config = StudentConfig.from_dict(record.student)
    assert (config.widths, config.blocks, config.full_width) == ((8, 16, 24), 2, 8)
    assert file.text_direction is not None and torch.equal(file.text_direction, StyleFile.read(style).text_direction)
    assert (student.parent / "last.ckpt").is_file() and (student.parent / "config.yaml").is_file()
    network = build_student(config).eval()
    network.load_state_dict(file.weights)
    images = held_out_photos()
    stylizer = Stylizer.from_checkpoint(student, precision="32-true")
    with torch.no_grad():
        expected = network(images).clamp(0, 1)
    torch.testing.assert_close(stylizer(images), expected, rtol=0, atol=1e-5)
    # Sides that are not multiples of 8 are padded and cropped back, as for a style.
    assert stylizer(images[0, :, :45, :61]).shape == (3, 45, 61)
    assert student.stat().st_size < 1_000_000 < StyleFile.read(style).path.stat().st_size


def test_student_fidelity_to_the_teacher_improves_on_held_out_photos(student: Path, style: Path) -> None:
    images = held_out_photos()
    teacher = Stylizer.from_checkpoint(style, precision="32-true")(images)
    start = images.clamp(0, 1)  # a student that keeps the photo
    trained = Stylizer.from_checkpoint(student, precision="32-true")(images)

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(-10 * torch.log10(F.mse_loss(a, b)))

    assert psnr(trained, teacher) > psnr(start, teacher) + 3, (psnr(start, teacher), psnr(trained, teacher))


@pytest.mark.slow
def test_predict_and_export_read_the_student(student: Path, content_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "stylized"
    done = run_cli("predict", "--ckpt_path", str(student), "--data.path", str(content_dir), "--output.dir", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    written = sorted(out.rglob("*.png"))
    assert len(written) == 8
    from clipstyler_fast.io.images import open_image

    stylizer = Stylizer.from_checkpoint(student)
    source = next(content_dir.rglob(written[0].relative_to(out).with_suffix(".png").as_posix()))
    expected = pil_to_tensor(stylizer(open_image(source))).int()
    assert (pil_to_tensor(open_image(written[0])).int() - expected).abs().max() <= 1

    from clipstyler_fast.infer.export import export

    meta = export(student, tmp_path / "exported")
    assert set(meta["files"]) == {"torchscript", "onnx"} and meta["prompt"] == "Mosaic"
    assert max(json.loads((tmp_path / "exported" / "stylizer.json").read_text())["max_abs_difference_to_pytorch"].values()) < 1e-3
    scripted = torch.jit.load(str(tmp_path / "exported" / "stylizer.torchscript.pt"))
    images = held_out_photos()[:, :, :45, :61]
    torch.testing.assert_close(scripted(images), Stylizer.from_checkpoint(student, precision="32-true")(images), rtol=0, atol=1e-5)


def test_a_student_where_a_decoder_is_needed_is_refused_in_one_line(
    student: Path, style: Path, clip_path: Path, vgg_path: Path, content_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run_cli("interpolate", str(student), str(style), "--output", str(tmp_path / "blend.ckpt"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {student}: holds a student"), done.stderr
    assert str(style) in lines[0] and not (tmp_path / "blend.ckpt").exists()
    # A student is not a style to distill again either.
    capsys.readouterr()
    # Nor a decoder to start a style from, or to validate.
    assert main(fit_args(clip_path, vgg_path, content_dir, checkpoints=tmp_path / "fit", decoder=student)) == 2
    assert main(["validate", "--ckpt_path", str(student), "--data.path", str(content_dir)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, errors
    for last in errors:
        assert last.startswith(f"error: {student}: holds a student") and str(style) in last, last
    assert main(distill_args(student, TESTS, tmp_path / "again", steps=1)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"error: {student}: holds a student") and "distill a style.ckpt" in last, last


def last_state(root: Path) -> dict:
    return torch.load(root / "mosaic-student" / "last.ckpt", map_location="cpu", weights_only=True)


def test_a_stopped_run_resumes_exactly(style: Path, content_dir: Path, tmp_path: Path) -> None:
    steps = 6
    assert main(distill_args(style, content_dir, tmp_path / "reference", steps=steps)) == 0
    stopped = tmp_path / "stopped"
    signal_at = ["--trainer.callbacks+=resume_callbacks.SignalAtStep", "--trainer.callbacks.step", "3"]
    first = run_cli(*distill_args(style, content_dir, stopped, *signal_at, steps=steps))
    assert first.returncode == 128 + signal.SIGTERM, first.stderr[-3000:]
    assert last_state(stopped)["global_step"] == 4  # the step under way when the signal came is finished
    assert f"--model.teacher {style}" in first.stderr and "--ckpt_path last" in first.stderr
    resumed = [a for a in distill_args(style, content_dir, stopped, steps=steps) if a != "--ckpt_path"]
    resumed[resumed.index(str(style))] = "--model.teacher"
    resumed.insert(resumed.index("--model.teacher") + 1, str(style))
    assert main([*resumed, "--ckpt_path", "last"]) == 0
    ours, reference = last_state(stopped), last_state(tmp_path / "reference")
    assert ours["global_step"] == reference["global_step"] == steps
    assert all(torch.equal(ours["state_dict"][k], v) for k, v in reference["state_dict"].items())
    assert ours["optimizer_states"][0]["state"][0]["exp_avg"].equal(reference["optimizer_states"][0]["state"][0]["exp_avg"])


def test_a_student_moves_with_the_photo_only_by_whole_cells_of_its_teachers_8_pixel_grid() -> None:
    """Like the style, whose every stroke passes through relu4_1's 8x8-pixel cells, a student draws
    the same for a photo shifted by whole cells, and something else for a shift of half a cell."""
    torch.manual_seed(0)
    network = build_student().eval()
    wide = pil_to_tensor(make_photo(320, 48, seed=7)).float()[None] / 255
    with torch.no_grad():
        whole = network(wide)
        for shift, same in ((8, True), (16, True), (4, False), (1, False)):
            shifted = network(wide[..., shift : shift + 288])
            # The middle columns, beyond the reach of the side borders' zero padding (which does
            # not move with the photo).
            a, b = whole[..., 128 + shift : 160 + shift], shifted[..., 128:160]
            assert bool((a - b).abs().max() < 1e-6) is same, (shift, float((a - b).abs().max()))


def test_a_student_of_an_earlier_architecture_is_refused_in_one_line_that_says_to_distill_it_again(
    student: Path, style: Path, content_dir: Path, tmp_path: Path
) -> None:
    checkpoint = torch.load(student, map_location="cpu", weights_only=True)
    checkpoint["clipstyler_fast"]["architecture"] = "student/unshuffle-dwres-v1"
    old = tmp_path / "old-student.ckpt"
    torch.save(checkpoint, old)
    done = run_cli("predict", "--ckpt_path", str(old), "--data.path", str(content_dir), "--output.dir", str(tmp_path / "out"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'student/unshuffle-dwres-v1'" in lines[0] and f"distill it again from {style}" in lines[0], done.stderr


def test_a_student_shape_that_cannot_be_built_is_one_error_line(style: Path, content_dir: Path, tmp_path: Path) -> None:
    done = run_cli(*distill_args(style, content_dir, tmp_path, "--model.widths", "[16, 32]", steps=1))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: student widths [16, 32]") and "e.g. [16, 32, 64]" in last, done.stderr


def test_one_prompt_of_an_any_prompt_checkpoint_distills_into_a_student_of_that_style(
    any_prompt_ckpt: Path, vgg_path: Path, content_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "students"
    assert main(distill_args(any_prompt_ckpt, content_dir, root, "--model.prompt", "Watercolor", steps=4)) == 0
    student = root / "watercolor-student" / "student.ckpt"
    record = StyleFile.read(student).record
    assert (record.network, record.prompt, record.teacher) == ("student", "Watercolor", str(any_prompt_ckpt))
    # The teacher it learned from is the network at that prompt, as predict runs it.
    teacher = Stylizer.from_checkpoint(any_prompt_ckpt, prompt="Watercolor", vgg_weights=str(vgg_path))
    assert torch.equal(StyleFile.read(student).text_direction, load_style(any_prompt_ckpt, "Watercolor").text_direction)
    photos = held_out_photos()
    with torch.no_grad():
        out = Stylizer.from_checkpoint(student)(photos)
    assert out.shape == teacher(photos).shape
    # An any-prompt teacher without a prompt is refused in one line that names the option.
    capsys.readouterr()
    assert main(distill_args(any_prompt_ckpt, content_dir, tmp_path / "none", steps=1)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"error: {any_prompt_ckpt}: an any-prompt checkpoint") and "--model.prompt" in last, last
    assert not (tmp_path / "none").exists()
