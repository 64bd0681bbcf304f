"""Blending two style checkpoints: exact end points, the blend formula, strips, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import make_photo, style_checkpoint, write_vgg

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.blend import STRIP_PADDING
from clipstyler_fast.infer.stylizer import Stylizer, postprocess
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file
from clipstyler_fast.nets.style_file import FORMAT_KEY


@pytest.fixture(scope="module")
def styles(tmp_path_factory, clip_path, vgg_path, content_dir) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("styles")
    a = style_checkpoint(root, "Mosaic", 1, trained=(clip_path, vgg_path, content_dir))
    b = style_checkpoint(root, "Sketch with black pencil", 2, trained=(clip_path, vgg_path, content_dir))
    return a, b


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.from_numpy(np.array(make_photo(44, 36, seed=5))).permute(2, 0, 1).float().div(255)


@pytest.fixture(scope="module")
def ends(styles, image) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw outputs of the two styles on ``image``."""
    return tuple(_out(path, image) for path in styles)


def _out(path: Path, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        # fp32 (not the CPU's default bf16 autocast): blends at alpha 0 and 1 are compared bit for bit.
        return Stylizer.from_checkpoint(path, precision="32-true").stylize(image[None])


def test_alpha_0_and_1_reproduce_the_checkpoints_exactly(styles, ends, image, tmp_path, capsys):
    a, b = styles
    out_a, out_b = ends
    assert (out_a - out_b).abs().max() > 1e-4, "the two styles must differ for this test to mean anything"
    for alpha, source, expected in (("0", a, out_a), ("1", b, out_b)):
        target = tmp_path / f"blend_{alpha}.ckpt"
        assert main(["interpolate", str(a), str(b), "--alpha", alpha, "--output", str(target)]) == 0
        assert torch.equal(_out(target, image), expected)
        blended = load_checkpoint_file(target)["state_dict"]
        original = load_checkpoint_file(source)["state_dict"]
        for key, value in original.items():
            assert torch.equal(blended[key], value), key
    assert "wrote" in capsys.readouterr().out


def test_blend_is_the_reference_formula_and_records_both_prompts(styles, ends, image, tmp_path):
    a, b = styles
    target = tmp_path / "quarter.ckpt"
    assert main(["interpolate", str(a), str(b), "--alpha", "0.25", "--output", str(target)]) == 0
    blend, ca, cb = (load_checkpoint_file(p) for p in (target, a, b))
    for key in (k for k in ca["state_dict"] if k.startswith("decoder.")):
        expected = 0.75 * ca["state_dict"][key] + 0.25 * cb["state_dict"][key]
        torch.testing.assert_close(blend["state_dict"][key], expected, rtol=0, atol=1e-7)
    meta = blend[FORMAT_KEY]
    assert meta["interpolation"]["prompts"] == ["Mosaic", "Sketch with black pencil"]
    assert meta["interpolation"]["alpha"] == 0.25
    assert meta["vgg_weights"] == ca[FORMAT_KEY]["vgg_weights"]
    assert torch.isclose(blend["state_dict"]["text_direction"].norm(), torch.tensor(1.0))
    # Loads like any style checkpoint and gives an output between the two styles.
    stylizer = Stylizer.from_checkpoint(target)
    assert "Mosaic" in stylizer.prompt and "Sketch" in stylizer.prompt
    with torch.no_grad():
        out = stylizer.stylize(image[None])
    assert not torch.equal(out, ends[0]) and not torch.equal(out, ends[1])


def test_strip_renders_each_alpha_side_by_side(styles, ends, image, tmp_path):
    a, b = styles
    photo = tmp_path / "photo.png"
    Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(photo)
    content = torch.from_numpy(np.array(Image.open(photo))).permute(2, 0, 1).float().div(255)
    assert torch.equal(content, image)  # the photo is exactly the image the end outputs were made from
    strip_path = tmp_path / "strip.png"
    rc = main(
        [
            "interpolate",
            str(a),
            str(b),
            "--strip",
            str(photo),
            "--alphas",
            "0,0.5,1",
            "--include_content",
            "--output",
            str(strip_path),
            "--postprocess",
            "contrast",
        ]
    )
    assert rc == 0
    strip = torch.from_numpy(np.array(Image.open(strip_path).convert("RGB"))).permute(2, 0, 1).float().div(255)
    height, width = content.shape[-2:]
    assert strip.shape == (3, height, 4 * width + 3 * STRIP_PADDING)
    tiles = [strip[:, :, i * (width + STRIP_PADDING) : i * (width + STRIP_PADDING) + width] for i in range(4)]
    assert torch.equal(tiles[0], content)
    for tile, path in ((tiles[1], a), (tiles[3], b)):
        with torch.no_grad():  # at the precision every Stylizer picks here, as the strip's does
            raw = Stylizer.from_checkpoint(path).stylize(image[None])
        expected = postprocess(raw, "contrast")[0]
        assert (tile - expected).abs().max() <= 0.5 / 255 + 1e-6  # PNG rounding only
    assert (tiles[2] - tiles[1]).abs().mean() > 1e-3 and (tiles[2] - tiles[3]).abs().mean() > 1e-3


def _variant(source: Path, target: Path, edit) -> Path:
    checkpoint = load_checkpoint_file(source)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target


def _other_vgg(checkpoint, path):
    checkpoint["hyper_parameters"]["vgg_weights"] = str(path)
    checkpoint[FORMAT_KEY]["vgg_weights"] = str(path)


def _newer_format(checkpoint):
    checkpoint[FORMAT_KEY]["format_version"] = 99


def _wider_decoder(checkpoint):
    checkpoint["state_dict"]["decoder.1.weight"] = torch.zeros(128, 512, 3, 3)
    checkpoint["state_dict"]["decoder.1.bias"] = torch.zeros(128)


@pytest.mark.parametrize(
    "edit, reason",
    [
        ("vgg", "VGG encoders differ"),
        (_newer_format, "format version 99"),
        (_wider_decoder, "decoder architecture differs"),
    ],
)
def test_mismatched_pair_is_refused_with_a_one_line_reason(styles, tmp_path, capsys, edit, reason):
    a, b = styles
    if edit == "vgg":
        other = write_vgg(tmp_path / "other-vgg.pth", seed=3)
        edit = lambda checkpoint: _other_vgg(checkpoint, other)  # noqa: E731
    bad = _variant(b, tmp_path / "bad.ckpt", edit)
    target = tmp_path / "blend.ckpt"
    assert main(["interpolate", str(a), str(bad), "--alpha", "0.5", "--output", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert reason in err and str(bad) in err
    assert not target.exists()


def test_same_vgg_file_by_another_path_is_accepted(styles, tmp_path, vgg_path):
    a, b = styles
    link = tmp_path / "vgg-link.pth"
    link.symlink_to(vgg_path)
    other_path = _variant(b, tmp_path / "b.ckpt", lambda checkpoint: _other_vgg(checkpoint, link))
    assert main(["interpolate", str(a), str(other_path), "--output", str(tmp_path / "ok.ckpt")]) == 0


def test_alpha_outside_0_1_is_refused(styles, tmp_path, capsys):
    a, b = styles
    assert main(["interpolate", str(a), str(b), "--alpha", "1.5", "--output", str(tmp_path / "x.ckpt")]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err
