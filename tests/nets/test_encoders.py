"""The reference's own networks: AdaIN's vgg_normalised encoder and trained decoder, loaded from
files in the released layouts through the product's loaders, by default and offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from support import adain_decoder_network, run_cli, vgg_normalised_network, write_adain_decoder, write_vgg_normalised
from support import fit_args as small_fit

from clipstyler_fast.cli.main import main
from clipstyler_fast.errors import CheckpointError, WeightsUnavailableError
from clipstyler_fast.infer.blend import StyleBlend
from clipstyler_fast.infer.stylizer import Stylizer
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.decoder_init import load_decoder_weights
from clipstyler_fast.nets.style_file import FORMAT_KEY
from clipstyler_fast.nets.vgg import load_vgg_encoder

REPO = Path(__file__).resolve().parents[2]


def adain_relu4_1_by_definition(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """relu4_1 of vgg_normalised written from its definition, with functional ops only."""
    x = F.conv2d(x, state["0.weight"], state["0.bias"])  # the 1x1 input conv: no normalisation step
    convs = iter(["2", "5", "pool", "9", "12", "pool", "16", "19", "22", "25", "pool", "29"])
    for name in convs:
        if name == "pool":
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        else:
            x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{name}.weight"], state[f"{name}.bias"]))
    return x


def test_adain_encoder_is_vgg_normalised_to_relu4_1_with_reflection_pads_and_ceil_pools(vgg_path: Path) -> None:
    state = torch.load(vgg_path, weights_only=True)
    assert len({k.split(".")[0] for k in state}) == 17  # the released file: all 16 3x3 convs + the 1x1, to relu5_4
    encoder = load_vgg_encoder(vgg_path, "adain")
    # Odd sizes: ceil-mode pooling keeps the last row and column (37 -> 19 -> 10 -> 5).
    x = torch.rand(2, 3, 37, 45)
    expected = adain_relu4_1_by_definition(state, x)
    assert expected.shape == (2, 512, 5, 6)
    torch.testing.assert_close(encoder(x), expected, rtol=1e-4, atol=1e-5)
    # The same as the whole released network run to its 31st module.
    reference = vgg_normalised_network()
    reference.load_state_dict(state)
    torch.testing.assert_close(encoder(x), reference[:31](x), rtol=1e-4, atol=1e-5)
    # Reflection, not zero, padding: the zero-padded computation differs.
    zero = F.relu(F.conv2d(F.conv2d(x, state["0.weight"], state["0.bias"]), state["2.weight"], state["2.bias"], padding=1))
    assert not torch.allclose(encoder.features[:4](x), zero)


def test_a_file_holding_only_the_layers_to_relu4_1_loads_too(vgg_path: Path, tmp_path: Path) -> None:
    state = torch.load(vgg_path, weights_only=True)
    short = {k: v for k, v in state.items() if int(k.split(".")[0]) < 31}
    torch.save(short, tmp_path / "short.pth")
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(load_vgg_encoder(tmp_path / "short.pth", "adain")(x), load_vgg_encoder(vgg_path, "adain")(x))


def test_adain_decoder_file_is_our_decoder(decoder_path: Path) -> None:
    decoder = build_decoder()
    load_decoder_weights(decoder, decoder_path)
    reference = adain_decoder_network()
    reference.load_state_dict(torch.load(decoder_path, weights_only=True))
    features = torch.rand(1, 512, 4, 5)
    torch.testing.assert_close(decoder(features), reference(features))


def test_wrong_files_are_refused_in_one_line_naming_the_option(
    vgg_path: Path, torchvision_vgg_path: Path, decoder_path: Path, clip_path: Path
) -> None:
    with pytest.raises(
        WeightsUnavailableError,
        match=r"vgg19-random.pth: holds torchvision VGG-19 weights, not AdaIN's vgg_normalised.*`encoder` torchvision",
    ):
        load_vgg_encoder(torchvision_vgg_path, "adain")
    with pytest.raises(WeightsUnavailableError, match=r"vgg_normalised.pth: holds AdaIN's vgg_normalised .*`encoder` adain"):
        load_vgg_encoder(vgg_path, "torchvision")
    with pytest.raises(WeightsUnavailableError, match=r"decoder.pth: holds decoder weights .*`vgg_weights`"):
        load_vgg_encoder(decoder_path, "adain")
    for wrong in (torchvision_vgg_path, vgg_path):
        with pytest.raises(
            WeightsUnavailableError,
            match=rf"{wrong.name}: holds .*VGG-19 weights, not a decoder; pass AdaIN's decoder.pth.*`decoder_init`",
        ) as error:
            load_decoder_weights(build_decoder(), wrong)
        assert "\n" not in str(error.value)
    with pytest.raises(WeightsUnavailableError, match="imagenet names torchvision's VGG-19"):
        load_vgg_encoder("imagenet", "adain")


def fit_args(root: Path, clip_path: Path, content_dir: Path, *extra: str) -> list[str]:
    """A small fit that leaves the encoder and decoder options at their defaults unless ``extra`` sets them."""
    return small_fit(clip_path, None, content_dir, *extra, checkpoints=root / "checkpoints", decoder=None)


@pytest.mark.slow
def test_default_fit_starts_from_adains_decoder_and_predict_builds_the_recorded_encoder(
    tmp_path: Path, clip_path: Path, content_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    """With no weight options, `fit` takes AdaIN's two files from the cache where the first run
    downloaded them (here placed by hand), from any working folder."""
    env = {"TORCH_HOME": str(tmp_path / "torch-home")}
    cache = tmp_path / "torch-home" / "hub" / "checkpoints" / "pytorch-AdaIN"
    cache.mkdir(parents=True)
    write_vgg_normalised(cache / "vgg_normalised.pth", seed=3)
    write_adain_decoder(cache / "decoder.pth", seed=4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(*fit_args(tmp_path, clip_path, content_dir, "--model.lr", "0"), cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"decoder initialised from {cache / 'decoder.pth'}" in result.stderr
    assert "RANDOM" not in result.stderr
    style = tmp_path / "checkpoints" / "mosaic" / "style.ckpt"
    meta = torch.load(style, weights_only=True)[FORMAT_KEY]
    assert (meta["encoder"], meta["vgg_weights"]) == ("adain", "auto")
    # lr 0: the trained decoder is AdaIN's decoder, so predict must equal decoder(vgg_normalised(x)).
    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    from support import make_photo

    make_photo(40, 32, seed=9).save(photo)
    result = run_cli(
        "predict", "--ckpt_path", str(style), "--data.path", str(photo.parent), "--output.dir", str(tmp_path / "out"),
        "--trainer.accelerator", "cpu", "--trainer.precision", "32-true", cwd=elsewhere, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    from PIL import Image

    produced = torch.from_numpy(__import__("numpy").asarray(Image.open(tmp_path / "out" / "photo.png"))).permute(2, 0, 1).float()
    encoder, decoder = vgg_normalised_network()[:31], adain_decoder_network()
    encoder.load_state_dict(
        {k: v for k, v in torch.load(cache / "vgg_normalised.pth", weights_only=True).items() if int(k.split(".")[0]) < 31}
    )
    decoder.load_state_dict(torch.load(cache / "decoder.pth", weights_only=True))
    x = torch.from_numpy(__import__("numpy").asarray(Image.open(photo))).permute(2, 0, 1).float()[None] / 255
    expected = (decoder(encoder(x))[0].clamp(0, 1) * 255).round()
    assert (produced - expected).abs().max() <= 1


def test_offline_fit_lists_every_missing_file_at_once(tmp_path: Path) -> None:
    result = run_cli(
        "fit", "--config", str(REPO / "configs/default.yaml"), "--model.clip_download_root", str(tmp_path / "clip"),
        "--checkpoint.root", str(tmp_path / "checkpoints"), "--data.path", str(REPO / "data" / "samples"),
        cwd=tmp_path, env={"TORCH_HOME": str(tmp_path / "torch-home")},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    err = result.stderr[result.stderr.index("error: ") :]
    assert err.startswith("error: 3 weight files are missing:")
    for file, option in [
        ("ViT-B-32.pt", "--model.clip_model PATH"),
        ("vgg_normalised.pth", "--model.vgg_weights PATH"),
        ("decoder.pth", "--model.decoder_init PATH"),
    ]:
        line = next(line for line in err.splitlines() if file in line)
        assert "could not download" in line and "https://" in line and option in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_checkpoints_record_their_encoder_and_older_ones_keep_working(
    tmp_path: Path, clip_path: Path, torchvision_vgg_path: Path, vgg_path: Path, decoder_path: Path, content_dir: Path
) -> None:
    assert (
        main(
            fit_args(
                tmp_path / "a",
                clip_path,
                content_dir,
                "--model.encoder",
                "torchvision",
                "--model.vgg_weights",
                str(torchvision_vgg_path),
                "--model.decoder_init",
                "random",
            )
        )
        == 0
    )
    assert (
        main(
            fit_args(
                tmp_path / "b", clip_path, content_dir, "--model.vgg_weights", str(vgg_path), "--model.decoder_init", str(decoder_path)
            )
        )
        == 0
    )
    torchvision_style = tmp_path / "a" / "checkpoints" / "mosaic" / "style.ckpt"
    adain_style = tmp_path / "b" / "checkpoints" / "mosaic" / "style.ckpt"
    assert torch.load(torchvision_style, weights_only=True)[FORMAT_KEY]["encoder"] == "torchvision"
    assert Stylizer.from_checkpoint(torchvision_style).network.encoder.kind == "torchvision"
    assert Stylizer.from_checkpoint(adain_style).network.encoder.kind == "adain"

    # A format-1 checkpoint (written before the encoder option existed) was made with torchvision's VGG-19.
    old = torch.load(torchvision_style, weights_only=True)
    old[FORMAT_KEY] = {k: v for k, v in old[FORMAT_KEY].items() if k != "encoder"} | {"format_version": 1}
    old["hyper_parameters"].pop("encoder")
    torch.save(old, tmp_path / "old.ckpt")
    stylizer = Stylizer.from_checkpoint(tmp_path / "old.ckpt")
    assert stylizer.network.encoder.kind == "torchvision"
    x = torch.rand(1, 3, 24, 32)
    torch.testing.assert_close(stylizer.stylize(x), Stylizer.from_checkpoint(torchvision_style).stylize(x))

    # Blending styles made on different encoders is refused with the reason.
    with pytest.raises(CheckpointError, match=r"cannot be blended: encoders differ \('torchvision' vs 'adain'\)"):
        StyleBlend(torchvision_style, adain_style)
    # So is starting an adain run from a decoder trained on torchvision's encoder.
    status = main(
        fit_args(
            tmp_path / "c", clip_path, content_dir, "--model.vgg_weights", str(vgg_path), "--model.decoder_init", str(torchvision_style)
        )
    )
    assert status == 2
