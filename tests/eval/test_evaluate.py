"""``clipstyler-fast evaluate``: per-image CSV and summary, from a checkpoint or from stylized files."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
import torch
from support import style_checkpoint
from torchvision.utils import save_image

from clipstyler_fast.cli.main import main
from clipstyler_fast.eval.evaluate import style_direction
from clipstyler_fast.eval.metrics import content_ssim, directional_similarity, edge_keeping
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.io.images import list_images, read_rgb
from clipstyler_fast.nets.clip_model import load_clip
from clipstyler_fast.nets.style_file import StyleRecord
from clipstyler_fast.objective import losses


@pytest.fixture(scope="module")
def style(tmp_path_factory, clip_path, vgg_path, content_dir) -> Path:
    return style_checkpoint(tmp_path_factory.mktemp("evaluate-style"), "Mosaic", trained=(clip_path, vgg_path, content_dir))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def summary_means(text: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.split()[:1] in (["clip_direction"], ["content_ssim"], ["edge_keeping"])
    }


def test_evaluate_stylizes_and_scores_every_image(style, clip_path, content_dir, tmp_path, capsys):
    table = tmp_path / "metrics.csv"
    assert (
        main(
            [
                "evaluate",
                "--ckpt_path",
                str(style),
                "--data.path",
                str(content_dir),
                "--output",
                str(table),
                "--trainer.enable_progress_bar",
                "false",
                "--trainer.accelerator",
                "cpu",
            ]
        )
        == 0
    )
    rows = read_rows(table)
    contents = list_images(content_dir)
    assert [r["image"] for r in rows] == [str(p.relative_to(content_dir)) for p in contents]  # nested ones too
    # One row checked against an independent computation with the same networks.
    row, path = rows[-1], contents[-1]
    image = read_rgb(path)[None]
    with torch.no_grad():
        stylized = Stylizer.from_checkpoint(style)(image)
        clip = load_clip(clip_path)
        direction = losses.text_direction(clip.encode_text, "Mosaic")
        expected = directional_similarity(clip.encode_image(stylized), clip.encode_image(image), direction)
    assert float(row["clip_direction"]) == pytest.approx(float(expected), abs=2e-6)
    assert float(row["content_ssim"]) == pytest.approx(float(content_ssim(stylized, image)), abs=2e-6)
    assert float(row["edge_keeping"]) == pytest.approx(float(edge_keeping(stylized, image)), abs=2e-6)
    assert (int(row["width"]), int(row["height"])) == (image.shape[-1], image.shape[-2])
    # The summary's means are the means of the per-image columns.
    means = summary_means(capsys.readouterr().out)
    for metric in ("clip_direction", "content_ssim", "edge_keeping"):
        column = [float(r[metric]) for r in rows]
        assert means[metric] == pytest.approx(sum(column) / len(column), abs=1e-4)


def test_existing_outputs_are_matched_by_relative_path(style, content_dir, tmp_path, capsys):
    # "Stylized" outputs that are the contents themselves: SSIM 1 and no CLIP movement, known exactly.
    outputs = tmp_path / "stylized"
    for path in list_images(content_dir):
        target = outputs / path.relative_to(content_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    missing = list_images(content_dir)[0].relative_to(content_dir)
    (outputs / missing).unlink()
    table = tmp_path / "scores.csv"
    rc = main(
        [
            "evaluate",
            "--ckpt_path",
            str(style),
            "--data.path",
            str(content_dir),
            "--stylized_dir",
            str(outputs),
            "--output",
            str(table),
            "--trainer.accelerator",
            "cpu",
        ]
    )
    assert rc == 0
    rows = read_rows(table)
    assert len(rows) == len(list_images(content_dir)) - 1 and str(missing) not in [r["image"] for r in rows]
    assert all(float(r["content_ssim"]) == pytest.approx(1.0, abs=1e-5) for r in rows)
    assert all(float(r["edge_keeping"]) == pytest.approx(1.0, abs=1e-5) for r in rows)  # the photos themselves
    assert all(abs(float(r["clip_direction"])) < 1e-6 for r in rows)
    err = capsys.readouterr().err
    assert "no stylized output found" in err and missing.name in err


def test_stylized_outputs_with_another_suffix_are_found(clip_path, content_dir, tmp_path):
    image_path = list_images(content_dir)[1]
    outputs = tmp_path / "out"
    outputs.mkdir()
    save_image(1 - read_rgb(image_path), outputs / f"{image_path.stem}.jpg")  # a negative, as JPEG
    table = tmp_path / "one.csv"
    rc = main(
        [
            "evaluate",
            "--model.prompt",
            "Mosaic",
            "--model.clip_model",
            str(clip_path),
            "--data.path",
            str(image_path),
            "--stylized_dir",
            str(outputs),
            "--output",
            str(table),
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.accelerator",
            "cpu",
        ]
    )
    assert rc == 0
    [row] = read_rows(table)
    assert row["stylized"].endswith(f"{image_path.stem}.jpg") and float(row["content_ssim"]) < 0.9


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data.path", "photos"], "nothing to evaluate"),
        (["--data.path", "photos", "--stylized_dir", "out"], "pass --model.prompt"),
        (
            [
                "--data.path",
                "photos",
                "--stylized_dir",
                "out",
                "--model.prompt",
                "x",
                "--trainer.accelerator",
                "cuda",
                "--trainer.devices",
                "[99]",
            ],
            "no such device",
        ),
    ],
)
def test_missing_inputs_are_one_line_errors(args, message, capsys):
    assert main(["evaluate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and message in err


def test_blended_checkpoint_is_scored_against_the_blended_direction(clip_path):
    clip = load_clip(clip_path)
    meta = StyleRecord(prompt="Mosaic + Sketch (alpha 0.25)", interpolation={"prompts": ["Mosaic", "Sketch"], "alpha": 0.25})
    da = losses.text_direction(clip.encode_text, "Mosaic")
    db = losses.text_direction(clip.encode_text, "Sketch")
    expected = losses.normalize(0.75 * da + 0.25 * db)
    assert torch.allclose(style_direction(clip, meta), expected, atol=1e-6)
    assert torch.allclose(style_direction(clip, meta, prompt="Sketch"), db, atol=1e-6)


def test_a_judge_clip_gives_a_second_opinion_and_patches_are_scored_apart(style, content_dir, weights_dir, tmp_path, capsys):
    from support import write_tiny_clip

    judge_file = write_tiny_clip(weights_dir / "judge-clip.pt", seed=11)
    table = tmp_path / "judged.csv"
    args = [
        "evaluate",
        "--ckpt_path",
        str(style),
        "--data.path",
        str(content_dir),
        "--output",
        str(table),
        "--judge_clip",
        str(judge_file),
        "--patches",
        "4",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.accelerator",
        "cpu",
    ]
    assert main(args) == 0
    rows = read_rows(table)
    assert list(rows[0])[4:] == [
        "clip_direction",
        "clip_patch_direction",
        "judge_direction",
        "judge_patch_direction",
        "content_ssim",
        "edge_keeping",
    ]
    # Another CLIP, another opinion: the judge's scores are its own, not copies of the training CLIP's.
    assert any(abs(float(r["judge_direction"]) - float(r["clip_direction"])) > 1e-3 for r in rows)
    # The patch score, checked against an independent computation for the first image (patches seeded by its position).
    from clipstyler_fast.eval.metrics import patch_directional_similarity

    image = read_rgb(list_images(content_dir)[0])[None]
    with torch.no_grad():
        stylized = Stylizer.from_checkpoint(style)(image)
        judge = load_clip(judge_file)
        direction = losses.text_direction(judge.encode_text, "Mosaic")
        expected = patch_directional_similarity(
            judge.encode_image, stylized, judge.encode_image(image), direction, 4, 0.5, torch.Generator().manual_seed(0)
        )
    assert float(rows[0]["judge_patch_direction"]) == pytest.approx(float(expected), abs=2e-6)
    summary = capsys.readouterr().out
    assert "judge_patch_direction" in summary and "clip_patch_direction" in summary
    # Patches are seeded: the same command scores the same.
    assert main([*args[:6], str(tmp_path / "again.csv"), *args[7:]]) == 0
    assert read_rows(tmp_path / "again.csv") == rows


@pytest.mark.parametrize("size", [None, 128])
def test_tiny_and_thin_images_are_scored_with_the_rest(style, tmp_path, size):
    """A 1x1 image, a 3000x20 strip and a 20x3000 one are scored beside an ordinary photo, with
    or without ``--size``, from a checkpoint and from stylized files: no image stops the run."""
    folder, outputs = tmp_path / "odd", tmp_path / "stylized"
    folder.mkdir()
    outputs.mkdir()
    shapes = {"dot": (1, 1), "wide": (20, 3000), "tall": (3000, 20), "photo": (40, 48)}
    for name, (height, width) in shapes.items():
        image = torch.rand(3, height, width, generator=torch.Generator().manual_seed(height))
        save_image(image, folder / f"{name}.png")
        save_image(image.flip(-1), outputs / f"{name}.png")
    sizes = [] if size is None else ["--size", str(size)]
    for source in (["--ckpt_path", str(style)], ["--ckpt_path", str(style), "--stylized_dir", str(outputs)]):
        table = tmp_path / f"scores-{len(source)}.csv"
        args = ["evaluate", *source, "--data.path", str(folder), "--output", str(table), "--patches", "2", *sizes]
        assert main([*args, "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]) == 0
        rows = {Path(r["image"]).stem: r for r in read_rows(table)}
        assert sorted(rows) == sorted(shapes)
        for row in rows.values():
            assert all(not math.isnan(float(row[k])) for k in ("clip_direction", "content_ssim", "edge_keeping")), row
        if size is not None:
            assert max(int(rows["wide"]["width"]), int(rows["wide"]["height"])) == size
