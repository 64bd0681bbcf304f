"""``clipstyler-fast optimize``: the per-image mode through the command line, offline, with
random-weight files in the released layouts (a CLIP file, torchvision's VGG-19)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from support import make_photo, run_cli, start_cli, style_checkpoint, write_vgg

from clipstyler_fast.cli.main import main
from clipstyler_fast.io.images import read_rgb
from clipstyler_fast.train.per_image_run import image_seed, working_size

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--data.size", "32", "--model.num_patches", "2", "--model.patch_size", "16", "--trainer.accelerator", "cpu"]


@pytest.fixture(scope="module")
def content_layers_vgg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchvision's VGG-19 keys up to relu5_2 (the per-image content layers), random weights."""
    return write_vgg(tmp_path_factory.mktemp("vgg") / "vgg19-features.pth", upto=32)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    make_photo(48, 40, seed=1).save(folder / "a.png")
    make_photo(40, 56, seed=2).save(folder / "nested" / "b.jpg")
    make_photo(36, 36, seed=3).save(folder / "c.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def optimize_args(clip_path: Path, vgg: Path, photos: Path, out: Path, *extra: str) -> list[str]:
    return [
        "optimize",
        "--config",
        str(REPO / "configs" / "optimize.yaml"),
        "--model.prompt",
        "Mosaic",
        "--model.clip_model",
        str(clip_path),
        "--model.vgg_weights",
        str(vgg),
        "--data.path",
        str(photos),
        "--output.dir",
        str(out),
        *SMALL,
        *extra,
    ]


def test_a_folder_is_stylized_photo_by_photo_keeping_names_and_skipping_a_bad_file(
    clip_path: Path, content_layers_vgg: Path, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = optimize_args(clip_path, content_layers_vgg, photos, out, "--trainer.max_steps", "3", "--output.every", "2")
    assert main([*args, "--trainer.enable_progress_bar", "false"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a.png", "a_step2.png", "c.png", "c_step2.png", "nested/b.png", "nested/b_step2.png"]
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and captured.err.count("warning:") == 1
    assert "wrote 3 stylized photos" in captured.out and "1 skipped" in captured.out
    # Long side 32, aspect kept, sides multiples of 8: 48x40 -> 32x27 -> 32x24 (H x W as read).
    assert tuple(read_rgb(out / "a.png").shape[-2:]) == working_size(40, 48, 32) == (24, 32)
    # The published post-processing: contrast x1.5 then min-max, so each output spans 0..1.
    image = read_rgb(out / "c.png")
    assert float(image.min()) == 0.0 and float(image.max()) == 1.0


def test_the_published_square_resize_is_an_option(clip_path: Path, content_layers_vgg: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "square"
    args = optimize_args(clip_path, content_layers_vgg, photos / "a.png", out, "--trainer.max_steps", "0", "--data.square", "true")
    assert main([*args, "--trainer.enable_progress_bar", "false"]) == 0
    assert tuple(read_rgb(out / "a.png").shape[-2:]) == (32, 32)


@pytest.mark.slow
def test_a_killed_run_goes_on_without_redoing_or_losing_a_photo(
    clip_path: Path, content_layers_vgg: Path, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    args = optimize_args(clip_path, content_layers_vgg, photos, out, "--trainer.max_steps", "12", "--trainer.enable_progress_bar", "false")
    process = start_cli(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not list(out.rglob("*.png")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert 1 <= len(first) < 3, first  # killed after the first photo, before the last
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in first} == first  # not done twice
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "c.png", "nested/b.png"]  # none lost
    assert f"{len(first)} done by an earlier run" in result.stdout and not list(out.rglob("*.tmp"))


def test_each_photo_has_its_own_seed_so_a_resumed_run_gives_the_same_image(
    clip_path: Path, content_layers_vgg: Path, photos: Path, tmp_path: Path
) -> None:
    alone, together = tmp_path / "alone", tmp_path / "together"
    base = ["--trainer.max_steps", "2", "--trainer.enable_progress_bar", "false"]
    assert main(optimize_args(clip_path, content_layers_vgg, photos / "c.png", alone, *base)) == 0
    assert main(optimize_args(clip_path, content_layers_vgg, photos, together, *base)) == 0
    assert torch.equal(read_rgb(alone / "c.png"), read_rgb(together / "c.png"))
    assert image_seed(0, Path("c.png")) != image_seed(0, Path("nested/c.png"))


def test_init_from_starts_every_photo_from_a_trained_style(
    clip_path: Path, vgg_path: Path, content_dir: Path, content_layers_vgg: Path, photos: Path, tmp_path: Path
) -> None:
    style = style_checkpoint(tmp_path / "style", "Mosaic", trained=(clip_path, vgg_path, content_dir))
    out = tmp_path / "from-style"
    args = optimize_args(clip_path, content_layers_vgg, photos / "a.png", out, "--trainer.max_steps", "1", "--model.init_from", str(style))
    assert main([*args, "--trainer.enable_progress_bar", "false", "--postprocess", "clamp"]) == 0
    # With no step at all, the output is the style's own stylization of the photo.
    zero = tmp_path / "zero"
    args = optimize_args(clip_path, content_layers_vgg, photos / "a.png", zero, "--trainer.max_steps", "0", "--model.init_from", str(style))
    assert main([*args, "--trainer.enable_progress_bar", "false", "--postprocess", "clamp"]) == 0
    from clipstyler_fast.infer.stylizer import Stylizer
    from clipstyler_fast.train.per_image_run import prepare

    with torch.no_grad():
        expected = Stylizer.from_checkpoint(style, precision="32-true", channels_last=False)(prepare(read_rgb(photos / "a.png"), 32))
    assert (read_rgb(zero / "a.png") - expected[0]).abs().max() <= 1 / 255 + 1e-6
    assert not torch.equal(read_rgb(zero / "a.png"), read_rgb(out / "a.png"))  # one step moved it


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data.path", "missing-folder"], "no such file or folder"),
        (["--trainer.max_steps", "-1"], "must be 0 or more"),
        (["--config", "missing.yaml"], "cannot read the config"),
    ],
)
def test_bad_values_are_refused_in_one_line(clip_path: Path, extra: list[str], message: str, tmp_path: Path) -> None:
    args = [
        "--model.prompt",
        "Mosaic",
        "--model.clip_model",
        str(clip_path),
        "--data.path",
        str(tmp_path),
        "--output.dir",
        str(tmp_path / "o"),
    ]
    result = run_cli("optimize", *args, *extra)
    assert result.returncode == 2 and message in result.stderr.strip().splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_the_step_decay_is_stepped_before_the_optimiser_as_published(clip_path: Path, content_layers_vgg: Path) -> None:
    """lr at iteration i is lr * gamma ** ((i + 1) // lr_step): the published loop calls
    ``scheduler.step()`` first, so its first decay falls one iteration early; steps + 1 iterations."""
    from lightning.fabric import Fabric

    from clipstyler_fast.nets.clip_model import load_clip
    from clipstyler_fast.nets.vgg import load_content_layers
    from clipstyler_fast.objective.per_image import PerImageWeights
    from clipstyler_fast.train.per_image import PerImageOptimizer, PerImageSchedule

    clip = load_clip(clip_path)
    direction = torch.nn.functional.normalize(torch.randn(clip.model.text_projection.shape[1]), dim=0)
    optimizer = PerImageOptimizer(
        Fabric(accelerator="cpu", devices=1),
        clip,
        load_content_layers(content_layers_vgg),
        direction,
        PerImageWeights(num_patches=2, patch_size=16),
        PerImageSchedule(steps=5, lr=1e-3, lr_step=2, lr_gamma=0.5),
    )
    seen: list[float] = []
    optimizer.optimize(torch.rand(1, 3, 16, 16), seed=0, on_step=lambda step, terms, output: seen.append(terms["lr"]))
    assert seen == pytest.approx([1e-3 * 0.5 ** ((i + 1) // 2) for i in range(6)])
