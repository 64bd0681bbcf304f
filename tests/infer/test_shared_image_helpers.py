"""One header probe, one long-side resize and one stale-temporary cleaner, shared by every command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2.functional import resize

from clipstyler_fast.errors import ImageReadError
from clipstyler_fast.infer.predict.data import PredictDataModule
from clipstyler_fast.io.atomic import atomic_write_path, remove_stale_temporaries, temporary_owner
from clipstyler_fast.io.images import long_side_size, open_image, probe_image, resize_long_side
from clipstyler_fast.train.data import ContentDataModule


def photo(width: int = 40, height: int = 30, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    photo().save(tmp_path / "ok.png")
    png = (tmp_path / "ok.png").read_bytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated by 90 degrees: decoded as 30 wide, 40 high
    photo().save(tmp_path / "rotated.jpg", exif=exif)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("this is not an image")
    (tmp_path / "header-only.png").write_bytes(png[:12])
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    return {p.name: p for p in tmp_path.iterdir()}


def test_probe_reads_the_decoded_size_from_the_header(files):
    assert probe_image(files["ok.png"]) == (40, 30)
    assert probe_image(files["rotated.jpg"]) == (30, 40) == open_image(files["rotated.jpg"]).size
    assert probe_image(files["rotated.jpg"], oriented=False) == (40, 30)
    assert probe_image(files["ok.png"], verify=True) == (40, 30)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.png", "empty file (0 bytes)"),
        ("text.jpg", "not an image Pillow can read"),
        ("header-only.png", "not an image Pillow can read"),
        ("truncated.png", "unreadable or truncated image (image file is truncated)"),
    ],
)
def test_probe_says_why_a_file_is_not_an_image(files, name, reason):
    for verify in (False, True):
        with pytest.raises(ImageReadError) as caught:
            probe_image(files[name], verify=verify)
        assert caught.value.reason == reason and str(caught.value) == f"{files[name]}: {reason}"
    with pytest.raises(ImageReadError) as decoded:
        open_image(files[name])
    assert decoded.value.reason == reason


def test_probe_pixel_limit_names_the_option(files, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own limit never decides
    assert probe_image(files["ok.png"], max_pixels=None) == (40, 30)
    with pytest.raises(ImageReadError, match=r"40x30 exceeds the pixel limit of 1199 .*; raise `max_pixels` to allow it$"):
        probe_image(files["ok.png"], 1199)


def test_predict_and_training_report_the_probe_reasons(files, tmp_path):
    bad = ["empty.png", "text.jpg", "header-only.png"]
    reasons = {}
    for name in bad:
        with pytest.raises(ImageReadError) as caught:
            probe_image(files[name])
        reasons[name] = caught.value.reason
    predict = PredictDataModule(str(tmp_path), num_workers=0)
    predict.setup("predict")
    got = {predict.inputs[i].path.name: reason for i, reason in predict.unreadable.items()}
    assert {name: got[name] for name in bad} == reasons
    training = ContentDataModule(str(tmp_path), crop_size=16, num_holdout=0, num_workers=0)
    with pytest.warns(UserWarning):
        training.setup("fit")
    skipped = {Path(path).name: reason for path, reason in training.unreadable.items()}
    assert {name: skipped[name] for name in bad} == reasons


@pytest.mark.parametrize(
    ("height", "width", "long_side", "size"), [(37, 53, 20, (14, 20)), (30, 41, 100, (73, 100)), (5, 200, 64, (2, 64)), (9, 9, 3, (3, 3))]
)
def test_long_side_keeps_the_aspect_ratio_with_the_same_rounding(height, width, long_side, size):
    assert long_side_size(height, width, long_side) == size
    assert long_side_size(height, width, None) == (height, width)
    image = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    out = resize_long_side(image, long_side)
    assert out.shape[-2:] == size
    # What predict --size did before: torchvision's antialiased resize, clamped.
    torch.testing.assert_close(out, resize(image, list(size), antialias=True).clamp(0, 1), rtol=0, atol=0)
    # What evaluate --max_side and the interpolate strip did before: antialiased bilinear, when larger.
    shrunk = resize_long_side(image, long_side, shrink_only=True)
    if max(height, width) > long_side:
        before = F.interpolate(image[None], size=list(size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
        torch.testing.assert_close(shrunk, before, rtol=0, atol=0)
    else:
        assert shrunk is image
    assert resize_long_side(image[None], long_side).shape == (1, 3, *size)


def test_one_cleaner_for_checkpoint_and_output_temporaries(tmp_path):
    def touch(name: str, age: float = 0.0) -> Path:
        path = tmp_path / name
        path.write_bytes(b"partial")
        then = time.time() - age
        os.utime(path, (then, then))
        return path

    checkpoint_tmp, probe = touch(".last.ckpt.k2j4x.tmp"), touch(".write-probe-123")
    old_output, fresh_output = touch(".photo.png.a1b2c3.partial", age=3600), touch(".photo.png.d4e5f6.partial")
    other_output, kept = touch(".other.png.a1b2c3.partial", age=3600), touch("photo.png")
    assert temporary_owner(old_output.name, ".partial") == "photo.png"
    assert temporary_owner("photo.png", ".partial") is None and temporary_owner("..partial", ".partial") is None
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([checkpoint_tmp, probe])
    assert remove_stale_temporaries(tmp_path, ["photo.png"], ".partial", older_than=600) == [old_output]
    assert fresh_output.exists() and other_output.exists() and kept.exists()
    assert remove_stale_temporaries(tmp_path / "absent", ["photo.png"], ".partial") == []


def test_atomic_write_path_leaves_nothing_when_the_writer_fails(tmp_path):
    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half a video")
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        atomic_write_path(tmp_path / "clip.mp4", fail, suffix=".mp4")
    assert list(tmp_path.iterdir()) == []
