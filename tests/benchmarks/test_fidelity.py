"""Does the prompt show up in the image? Checked in a synthetic world, through the real CLI.

A small CLIP of the real architecture is trained on procedural photos and styles
(``benchmarks/fidelity``); a pixel-statistics judge that never uses CLIP decides whether the
style is there. A colour prompt is the style the reference recipe does make, so it is the
end-to-end claim: the CLI's ``fit`` then ``predict`` turn photos it never saw towards that
colour, and not towards another.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from world_fixtures import REPO

from benchmarks.fidelity import judge, run, start_decoder, train_clip, world, world_vgg

# The session's world fixtures (its CLIP and start decoder, trained in a few minutes) run inside
# the first test that needs them, so these tests get more than the suite's per-test limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

# How far the red prompt must move the held-out photos' red chromaticity beyond the start
# decoder's output, in content spreads, and how much of the photos' edges it must keep (the
# product's edge-keeping score, which a flat image of the right colour scores 0 on). Measured
# for the run below with the trained world VGG (bf16 frozen passes): +1.97 (centre +1.71),
# edges 0.35 (the start decoder alone: 0.65). With the content loss off
# (--model.lambda_content 0) the same run collapses to a flat red: +9.05 spreads, edges 0.00, flagged flat.
MIN_RED_SHIFT, MIN_RED_EDGES = 1.5, 0.2
# The reference recipe, with a learning rate twice the reference's so that 40 steps suffice.
RED_STEPS, RED_LR = 40, "2e-4"
# The held-out PSNR the CI world's start decoder reaches in its few steps (measured: 20.1 dB;
# the benchmark's, trained 10x longer, 25.8 dB).
MIN_CI_DECODER_PSNR = 18.0


def test_world_clip_loads_through_the_product_and_names_every_style(world_clip: Path) -> None:
    from clipstyler_fast.nets.clip_model import load_clip

    clip = load_clip(world_clip)  # clip.load(path, jit=False) -> build_model, as for any CLIP file
    assert world_clip.stat().st_size < 10 * 2**20
    for views in (False, True):
        accuracy = train_clip.accuracy(clip.encode_image, clip.encode_text, views=views, per_class=50)
        assert accuracy["all"] >= 0.95, accuracy
        # The plain-photo class holds the hard negatives (darkened, greyed, blank photos): the hardest.
        assert min(accuracy.values()) >= 0.8, accuracy


def _decoder(path: Path) -> torch.nn.Module:
    from clipstyler_fast.nets.decoder import build_decoder

    decoder = build_decoder()
    decoder.load_state_dict(torch.load(path, weights_only=True))
    return decoder.eval()


def test_world_vgg_sees_layout_where_the_rescaled_random_one_does_not(world_vgg_path: Path, world_decoder: Path, tmp_path: Path) -> None:
    """What the content loss sees, as relu4_1 MSE to the content of held-out photos: for the
    trained world VGG, a flat image of each photo's mean colour costs at least 5x the start
    decoder's reconstruction and a copy shifted by 8 px at least 2x, as for a pretrained VGG.
    The rescaled random VGG the world had before, with a start decoder trained as the CI world's
    was, lets a flat image through for little more than a reconstruction."""
    trained = world_vgg.realism(world_vgg_path, _decoder(world_decoder))
    assert trained.flat_ratio >= 5 and trained.shift_ratio >= 2, trained
    # The CI world trains for fewer steps than the benchmark's (which reaches 22 dB, RESULTS.md).
    assert trained.psnr >= MIN_CI_DECODER_PSNR, trained

    random_vgg = world_vgg.write_random_world_vgg(tmp_path / "random.pth")
    random_decoder = start_decoder.train_start_decoder(random_vgg, 150, batch=4, size=48, lr=1e-3, log_every=0)
    untrained = world_vgg.realism(random_vgg, random_decoder)
    assert untrained.flat_ratio < 5 and not untrained.passes(), untrained
    assert trained.flat_ratio > 2 * untrained.flat_ratio, (trained, untrained)


def test_world_vgg_is_written_in_both_released_layouts(tmp_path: Path) -> None:
    from clipstyler_fast.nets.vgg import load_vgg_encoder

    photos = world.photos(2, 32, torch.Generator().manual_seed(0))
    for kind, key in (("torchvision", "features.0.weight"), ("adain", "0.weight")):
        path = world_vgg.write_world_vgg(tmp_path / f"{kind}.pth", tmp_path / f"{kind}-decoder.pt", steps=1, kind=kind)
        assert key in torch.load(path, weights_only=True)
        with torch.no_grad():
            features = load_vgg_encoder(str(path), kind)(photos)
            image = _decoder(tmp_path / f"{kind}-decoder.pt")(features)
        # relu4_1 at unit spread over world photos, as the realism test's VGG is.
        assert features.shape == (2, 512, 4, 4) and 0.3 < float(features.std()) < 3, float(features.std())
        assert image.shape == photos.shape


def test_judge_sees_each_true_style_and_not_a_border_band_of_stripes() -> None:
    gen = torch.Generator().manual_seed(3)
    content = world.photos(12, 96, gen)
    outputs = {style: world.STYLE_FUNCTIONS[style](content, gen) for style in world.STYLES}
    table = judge.shifts(outputs, content, content)
    for style, row in table.items():
        # Neighbouring hues share part of their colour (pink lies between red and purple, cyan is
        # partly blue), so a tint stands out from the content and the others by less than a texture.
        tint = style in world.TINTS
        assert row["vs_content"] > (1 if tint else 3) and row["vs_others"] > (0 if tint else 2), (style, row)

    banded = content.clone()
    striped = world.stripes(content, gen)
    banded[..., :16, :], banded[..., -16:, :] = striped[..., :16, :], striped[..., -16:, :]
    faked = judge.shifts({"stripes": banded}, content, content)["stripes"]
    assert faked["vs_content"] < 0.5 and faked["centre_vs_content"] < 0.5, faked


def test_judge_flags_a_collapse_that_keeps_the_right_colour() -> None:
    """A flat image of the right colour passes the colour statistic but keeps no edge and is
    flagged ``flat``; a texture only along the border is flagged ``border``; the true styles keep
    the photo and raise no flag."""
    gen = torch.Generator().manual_seed(3)
    content = world.photos(12, 96, gen)
    red = world.tint(content, world.TINTS["red"], gen)
    collapsed = red.mean((2, 3), keepdim=True).expand_as(red).clone()
    bordered = collapsed.clone()
    striped = world.stripes(collapsed, gen)
    bordered[..., :8, :], bordered[..., -8:, :] = striped[..., :8, :], striped[..., -8:, :]
    table = judge.shifts({"red": red, "red:collapsed": collapsed, "stripes:border": bordered}, content, content)
    assert table["red:collapsed"]["vs_content"] > 1  # the colour alone passes ...
    assert table["red:collapsed"]["edges"] == 0.0 and table["red:collapsed"]["flat"] and not table["red:collapsed"]["border"]
    assert table["red:collapsed"]["ssim"] > 0.3  # ... and so would SSIM
    assert table["stripes:border"]["border"] and not table["stripes:border"]["flat"] and table["stripes:border"]["edges"] < 0.2
    truths = judge.shifts({style: world.STYLE_FUNCTIONS[style](content, gen) for style in world.STYLES}, content, content)
    assert table["red"]["edges"] > 0.9 and truths["sketch"]["edges"] > 0.5 and truths["stripes"]["edges"] > 0.1
    assert not any(row["flat"] or row["border"] for row in truths.values()), truths


def test_red_prompt_turns_held_out_photos_red_and_not_blue(world_setup: run.Setup) -> None:
    outputs = run.train_and_predict(world_setup, "red", steps=RED_STEPS, extra=["--model.lr", RED_LR])
    content = run.heldout(world_setup)
    baseline = run.decoder_only(world_setup, content)
    assert outputs.shape == content.shape

    red = judge.shifts({"red": outputs}, content, baseline)["red"]
    moves = judge.matrix({"red": outputs}, content, baseline)["red"]
    assert red["vs_decoder"] >= MIN_RED_SHIFT, (red, moves)
    assert red["centre_vs_decoder"] >= MIN_RED_SHIFT, (red, moves)  # everywhere, not at a border
    assert moves["blue"] <= 0.0, moves
    # Still the same photos: their edges, not a flat image of the right colour.
    assert red["edges"] >= MIN_RED_EDGES and not red["flat"] and not red["border"], red


def test_fidelity_benchmark_smoke_runs_through_the_cli(world_setup: run.Setup, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.fidelity",
            "--smoke",
            "--styles",
            "blue",
            "--clip",
            str(world_setup.clip),
            "--vgg",
            str(world_setup.vgg),
            "--decoder",
            str(world_setup.decoder),
            "--workdir",
            str(tmp_path),
            "--json",
            str(tmp_path / "fidelity.json"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| blue |" in result.stdout and "vs decoder only" in result.stdout
    assert (tmp_path / "fidelity.json").is_file()
    assert list((tmp_path / "predicted" / "blue").glob("*.png"))


def test_per_image_benchmark_smoke_compares_the_two_modes(world_setup: run.Setup, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    weights = ["--clip", str(world_setup.clip), "--vgg", str(world_setup.vgg), "--decoder", str(world_setup.decoder)]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.fidelity.per_image", "--smoke", "--styles", "red", *weights, "--workdir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for mode in ("fast (fit + predict)", "per-image", "per-image from the style"):
        assert f"| red | {mode} |" in result.stdout, result.stdout
    assert "steps the started run needs" in result.stdout
