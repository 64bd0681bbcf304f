"""A small end-to-end result, held to what it must be: reorganising the code must not change what
it computes.

Nothing here is a stored number (stored float sums break on every PyTorch release that rounds a
kernel differently); each claim compares the product with a recomputation of the same thing:

* Inference: ``predict``'s PNG equals a plain-torch forward written out here: the encoder loaded
  from the VGG weights file into AdaIN's released layout, the decoder from the checkpoint's state
  dict, the ``contrast`` post-processing formula spelled out and the 8-bit rounding. ``Stylizer``'s
  raw output is held to the same forward.
* Training: an exact re-derivation of ``fit`` would have to reuse the library's own sampler and
  view draws, the very code a reorganisation moves, so it would not be independent. What pins the
  training computation instead: it is a pure function of its inputs and the seed (two processes in
  different working folders give bitwise the same decoder), it is cut into steps without hidden
  state (one step, then a resumed second, equals two steps in one go), and it trains (the decoder
  moved from its start). The objective's terms themselves are checked against their formulas in
  ``tests/objective``.

fp32 throughout, on CPU, where training is bitwise reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import (
    adain_decoder_network,
    make_photo,
    run_cli,
    vgg_normalised_network,
    write_adain_decoder,
    write_tiny_clip,
    write_vgg_normalised,
)

# AdaIN's released encoder up to relu4_1: its first 31 modules.
RELU4_1 = 31
# ITU-R 601-2 luma, the grey that the contrast boost blends towards.
LUMA = (0.2989, 0.587, 0.114)
FP32 = ["--trainer.accelerator", "cpu", "--trainer.precision", "32-true"]


def run(*args: str, cwd: Path) -> None:
    result = run_cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]


def fit(clip: Path, vgg: Path, decoder: Path, photos: Path, cwd: Path, steps: int, *extra: str) -> Path:
    """``fit`` from ``cwd`` for ``steps`` steps (a large learning rate, so each step shows); its style file."""
    cwd.mkdir(exist_ok=True)
    run(
        "fit", "--seed_everything", "3", "--model.prompt", "Mosaic", "--model.clip_model", str(clip), "--model.vgg_weights", str(vgg),
        "--model.decoder_init", str(decoder), "--model.num_views", "2", "--model.frozen_precision", "fp32",
        "--model.preview_every_n_steps", "0", "--model.lr", "1e-2", "--data.path", str(photos), "--data.crop_size", "32",
        "--data.batch_size", "2", "--data.num_workers", "0", "--data.num_holdout", "1", "--trainer.max_steps", str(steps),
        *FP32, "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--checkpoint.root", "checkpoints", *extra,
        cwd=cwd,
    )  # fmt: skip
    return cwd / "checkpoints" / "mosaic" / "style.ckpt"


def decoder_state(style: Path) -> dict[str, torch.Tensor]:
    state = torch.load(style, weights_only=True)["state_dict"]
    return {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}


def plain_forward(vgg: Path, style: Path, images: torch.Tensor) -> torch.Tensor:
    """decoder(encoder(x)) with plain torch modules: no product code between weights and output."""
    encoder, decoder = vgg_normalised_network()[:RELU4_1], adain_decoder_network()
    encoder.load_state_dict({k: v for k, v in torch.load(vgg, weights_only=True).items() if int(k.split(".")[0]) < RELU4_1})
    decoder.load_state_dict(decoder_state(style))
    with torch.no_grad():
        return decoder(encoder(images))


def contrast(images: torch.Tensor) -> torch.Tensor:
    """The reference's post-processing: contrast x1.5 about each image's mean grey (clipped to
    [0, 1]), then each image stretched to fill [0, 1]."""
    grey = sum(w * images[:, c] for c, w in enumerate(LUMA)).mean(dim=(-2, -1)).view(-1, 1, 1, 1)
    boosted = (1.5 * images - 0.5 * grey).clamp(0, 1)
    low = boosted.amin(dim=(1, 2, 3), keepdim=True)
    high = boosted.amax(dim=(1, 2, 3), keepdim=True)
    return (boosted - low) / (high - low).clamp_min(1e-8)


@pytest.mark.slow
def test_fit_is_a_pure_function_of_its_inputs_and_predict_computes_the_plain_forward(tmp_path: Path) -> None:
    clip, vgg, start = (
        write_tiny_clip(tmp_path / "clip.pt", seed=5),
        write_vgg_normalised(tmp_path / "vgg.pth", seed=6),
        write_adain_decoder(tmp_path / "dec.pth", seed=7),
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        make_photo(48, 40, seed=100 + i).save(photos / f"p{i}.png")

    style = fit(clip, vgg, start, photos, tmp_path / "at-once", 2)
    fit(clip, vgg, start, photos, tmp_path / "in-two", 1)
    resumed = fit(clip, vgg, start, photos, tmp_path / "in-two", 2, "--ckpt_path", "last")
    trained, again = decoder_state(style), decoder_state(resumed)
    assert trained.keys() == again.keys() and all(torch.equal(trained[k], again[k]) for k in trained)
    assert any(not torch.equal(trained[k], v) for k, v in torch.load(start, weights_only=True).items())

    run(
        "predict",
        "--ckpt_path",
        str(style),
        "--data.path",
        str(photos / "p0.png"),
        "--output.dir",
        "out",
        "--postprocess",
        "contrast",
        *FP32,
        cwd=tmp_path,
    )
    pixels = torch.from_numpy(np.array(Image.open(tmp_path / "out" / "p0.png").convert("RGB"), dtype=np.int64))
    photo = torch.from_numpy(np.array(Image.open(photos / "p0.png").convert("RGB"))).permute(2, 0, 1).float()[None] / 255
    expected = (contrast(plain_forward(vgg, style, photo))[0].permute(1, 2, 0) * 255).round().long()
    # Within one 8-bit level: float rounding may put a value on the other side of a half.
    assert (pixels - expected).abs().max() <= 1
    assert (pixels != expected).float().mean() < 0.01

    from clipstyler_fast.infer.stylizer import Stylizer

    seeded = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    raw = Stylizer.from_checkpoint(style, vgg_weights=str(vgg), precision="32-true").stylize(seeded)
    torch.testing.assert_close(raw, plain_forward(vgg, style, seeded), rtol=1e-4, atol=1e-4)
