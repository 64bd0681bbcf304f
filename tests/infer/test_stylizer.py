"""The Python API: ``Stylizer.from_checkpoint(path)``, PIL in -> PIL out, tensors in -> tensors out,
safe checkpoint loading, and CLIP never loaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from predict_support import he_checkpoint, with_vgg_source
from support import make_photo

from clipstyler_fast.errors import CheckpointError, WeightsUnavailableError
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.io.checkpoint_file import load_checkpoint_file

# bf16 autocast + channels-last against fp32, He-initialised networks: largest difference below
# 3% of the output's value range, mean below 0.5% (measured: about 1.1% and 0.14% at 512x512).
BF16_MAX_TOLERANCE = 0.03
BF16_MEAN_TOLERANCE = 0.005


@pytest.fixture(scope="module")
def style(trained_style: Path) -> Path:
    return trained_style


@pytest.fixture(scope="module")
def he_style(style: Path) -> Path:
    return he_checkpoint(style.parents[2], style)[0]


def test_pil_image_in_pil_image_out_same_size_with_alpha_kept(style: Path) -> None:
    stylizer = Stylizer.from_checkpoint(style)
    assert stylizer.prompt == "Mosaic"
    rgba = np.asarray(make_photo(37, 23, seed=3).convert("RGBA")).copy()
    rgba[..., 3] = np.arange(37, dtype=np.uint8)[None, :] * 7
    out = stylizer(Image.fromarray(rgba, "RGBA"))
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (37, 23)
    np.testing.assert_array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    gray = stylizer(make_photo(9, 30, seed=4).convert("L"))
    assert gray.mode == "RGB" and gray.size == (9, 30)


def test_tensor_batch_in_tensor_batch_out(he_style: Path) -> None:
    stylizer = Stylizer.from_checkpoint(he_style, precision="32-true")
    batch = torch.rand(2, 3, 21, 35)
    with torch.inference_mode():
        out = stylizer(batch)
        alone = stylizer(batch[1:])
    assert out.shape == (2, 3, 21, 35) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0.05
    torch.testing.assert_close(out[1:], alone, rtol=0, atol=1e-4)


def test_contrast_postprocessing_stretches_each_image_to_full_range(he_style: Path) -> None:
    stylizer = Stylizer.from_checkpoint(he_style, postprocess="contrast", precision="32-true")
    with torch.inference_mode():
        out = stylizer(torch.rand(2, 3, 24, 16))
    for image in out:
        assert image.min().item() == pytest.approx(0, abs=1e-6) and image.max().item() == pytest.approx(1, abs=1e-6)


def test_default_precision_stays_close_to_fp32(he_style: Path) -> None:
    image = torch.from_numpy(np.asarray(make_photo(96, 80, seed=5))).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        exact = Stylizer.from_checkpoint(he_style, precision="32-true", channels_last=False).stylize(image)
        fast = Stylizer.from_checkpoint(he_style, precision="bf16-mixed").stylize(image)
    span = (exact.max() - exact.min()).item()
    error = (fast - exact).abs() / span
    assert error.max().item() < BF16_MAX_TOLERANCE and error.mean().item() < BF16_MEAN_TOLERANCE
    assert error.max().item() > 0, "bf16 autocast did not take effect"


def test_clip_is_never_loaded(style: Path) -> None:
    hparams = load_checkpoint_file(style)["hyper_parameters"]
    assert not Path(hparams["clip_model"]).exists(), "the CLIP file the checkpoint was trained with is deleted"
    stylizer = Stylizer.from_checkpoint(style)
    assert not any("clip" in name.lower() for name, _ in stylizer.named_modules())
    assert stylizer(make_photo(16, 16, seed=0)).size == (16, 16)


def test_vgg_weights_override_what_the_checkpoint_records(style: Path, vgg_path: Path, tmp_path: Path) -> None:
    moved = with_vgg_source(style, tmp_path / "moved.ckpt", str(tmp_path / "gone" / "vgg.pth"))
    with pytest.raises(WeightsUnavailableError, match="vgg.pth: weight file not found; pass an existing file with `vgg_weights`"):
        Stylizer.from_checkpoint(moved)
    assert Stylizer.from_checkpoint(moved, vgg_weights=str(vgg_path))(make_photo(16, 8, seed=0)).size == (16, 8)


class _Payload:
    """Runs a command when unpickled: a checkpoint holding it must be refused, not loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_pickled_payload_checkpoint_is_refused(style: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint_file(style)
    marker = tmp_path / "code-ran"
    checkpoint["extra"] = _Payload(marker)
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError) as error:
        Stylizer.from_checkpoint(tmp_path / "evil.ckpt")
    assert "refused" in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def test_damaged_checkpoints_are_one_line_errors(style: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(style.read_bytes()[:5000])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    for path, words in ((truncated, "corrupt"), (foreign, "not a clipstyler-fast checkpoint"), (tmp_path / "missing.ckpt", "not found")):
        with pytest.raises(CheckpointError) as error:
            Stylizer.from_checkpoint(path)
        assert words in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_nan_or_infinite_pixels_and_empty_lists_are_refused_in_one_line(style: Path) -> None:
    from clipstyler_fast.errors import StylizerInputError

    stylizer = Stylizer.from_checkpoint(style)
    image = torch.rand(3, 16, 16)
    for bad, words in ((image.clone().index_fill_(1, torch.tensor([3]), float("nan")), "NaN"), (image / 0, "infinite")):
        with pytest.raises(StylizerInputError, match=words) as refused:
            stylizer(bad)
        assert "\n" not in str(refused.value)
    for empty in ([], ()):
        with pytest.raises(StylizerInputError, match="empty"):
            stylizer(empty)
    assert stylizer(image).shape == image.shape  # finite images still work
