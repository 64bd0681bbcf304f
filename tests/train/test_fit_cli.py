"""`clipstyler-fast fit` end to end through the installed console command, on tiny weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from support import fit_args as small_fit
from support import run_cli

from clipstyler_fast.cli.main import main
from clipstyler_fast.nets.decoder import build_decoder
from clipstyler_fast.nets.style_file import FORMAT_KEY, FORMAT_VERSION

REPO = Path(__file__).resolve().parents[2]


def fit_args(clip_path: Path, vgg_path: Path, content_dir: Path, root: Path, steps: int = 2) -> list[str]:
    """The options after ``fit`` (tests add the command word themselves)."""
    return small_fit(
        clip_path,
        vgg_path,
        content_dir,
        "--trainer.default_root_dir",
        str(root / "runs"),
        checkpoints=root / "checkpoints",
        prompt="Sketch with black pencil",
        steps=steps,
        views=4,
        previews=1,
    )[1:]


def test_fit_writes_a_small_checkpoint_with_prompt_direction_and_hparams(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    # Without the test run's warning filter: the command's own output is what this checks.
    result = run_cli("fit", *fit_args(clip_path, vgg_path, content_dir, tmp_path), cwd=tmp_path, env={"PYTHONWARNINGS": None})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RANDOM weights" in result.stderr  # no pre-trained decoder here: said clearly
    folder = tmp_path / "checkpoints" / "sketch-with-black-pencil"
    style, last = folder / "style.ckpt", folder / "last.ckpt"
    assert style.is_file() and last.is_file()
    assert "prompt: Sketch with black pencil" in (folder / "config.yaml").read_text()
    assert not (tmp_path / "config.yaml").exists()  # nothing left in the working folder

    ckpt = torch.load(style, weights_only=True)
    assert ckpt[FORMAT_KEY]["format_version"] == FORMAT_VERSION
    assert ckpt[FORMAT_KEY]["prompt"] == "Sketch with black pencil"
    assert ckpt["hyper_parameters"]["prompt"] == "Sketch with black pencil"
    assert ckpt["hyper_parameters"]["num_views"] == 4 and ckpt["hyper_parameters"]["threshold"] == 0.7
    assert ckpt["global_step"] == 2
    state = ckpt["state_dict"]
    direction = state["text_direction"]
    assert direction.shape == (32,) and abs(direction.norm().item() - 1) < 1e-5
    decoder_keys = {k.removeprefix("decoder.") for k in state if k.startswith("decoder.")}
    assert decoder_keys == set(build_decoder().state_dict())
    # No frozen network inside: only the decoder and the text direction.
    assert set(state) == {f"decoder.{k}" for k in decoder_keys} | {"text_direction"}
    assert "optimizer_states" not in ckpt
    # The full decoder is 3.5M parameters: the style checkpoint is ~14 MB, well under 20 MB.
    assert style.stat().st_size < 20 * 2**20

    resume = torch.load(last, weights_only=True)
    assert resume["optimizer_states"] and resume["lr_schedulers"]
    torch.testing.assert_close(resume["state_dict"]["decoder.1.weight"], state["decoder.1.weight"])
    # Preview grids went to PNG files (no logger configured).
    assert list((tmp_path / "runs").rglob("previews/step_*.png"))


def test_fit_refuses_to_overwrite_an_earlier_run(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    args = fit_args(clip_path, vgg_path, content_dir, tmp_path, steps=1)
    assert main(["fit", *args]) == 0
    before = (tmp_path / "checkpoints" / "sketch-with-black-pencil" / "last.ckpt").read_bytes()
    capsys.readouterr()
    assert main(["fit", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "last.ckpt already holds an earlier run" in err and "--ckpt_path last" in err
    assert (tmp_path / "checkpoints" / "sketch-with-black-pencil" / "last.ckpt").read_bytes() == before
    assert main(["fit", *args, "--checkpoint.overwrite", "true"]) == 0


def test_fit_help_documents_every_option() -> None:
    result = run_cli("fit", "--help")
    assert result.returncode == 0
    text = result.stdout
    for option in [
        "--model.prompt",
        "--model.source_text",
        "--model.clip_model",
        "--model.clip_download_root",
        "--model.vgg_weights",
        "--model.decoder_init",
        "--model.lambda_content",
        "--model.lambda_patch",
        "--model.lambda_dir",
        "--model.lambda_tv",
        "--model.num_views",
        "--model.distortion",
        "--model.threshold",
        "--model.lr",
        "--model.lr_decay",
        "--model.preview_every_n_steps",
        "--data.path",
        "--data.batch_size",
        "--data.crop_size",
        "--data.num_holdout",
        "--data.num_workers",
        "--trainer.max_steps",
        "--trainer.precision",
        "--checkpoint.root",
        "--checkpoint.every_n_train_steps",
        "--ckpt_path",
        "--config",
        "--print_config",
    ]:
        assert option in text, option
    # Options are explained, not just listed.
    assert "patch-wise CLIP directional loss" in text
    assert "default: 200" in text.replace("\n", " ") or "max_steps" in text


def printed_config(capsys: pytest.CaptureFixture[str], name: str) -> dict:
    """What ``fit --config configs/<name>.yaml --print_config`` prints, parsed (run in this process:
    the commands' parsing is what is tested, and a fresh interpreter per file costs seconds)."""
    import yaml

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", str(REPO / f"configs/{name}.yaml"), "--print_config"])
    out = capsys.readouterr().out
    assert done.value.code in (0, None), out
    return yaml.safe_load(out)


def test_configs_parse_and_hold_the_reference_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    config = printed_config(capsys, "default")
    assert config["trainer"]["max_steps"] == 200
    assert config["data"]["batch_size"] == 4 and config["data"]["crop_size"] == 224
    model = config["model"]
    assert (model["num_views"], model["threshold"], model["lr"], model["lr_decay"]) == (16, 0.7, 1e-4, 5e-5)
    assert (model["lambda_content"], model["lambda_patch"], model["lambda_dir"], model["lambda_tv"]) == (1.0, 10.0, 1.0, 1e-4)
    for name, prompt in [("sketch", "Sketch with black pencil"), ("mosaic", "Mosaic"), ("watercolor", "Watercolor painting")]:
        assert printed_config(capsys, name)["model"]["prompt"] == prompt


def test_previews_go_to_tensorboard_when_it_is_installed(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = fit_args(clip_path, vgg_path, content_dir, tmp_path)
    i = args.index("--trainer.logger")
    del args[i : i + 2]
    assert main(["fit", *args, "--trainer.log_every_n_steps", "1"]) == 0
    events = list((tmp_path / "checkpoints").rglob("logs/version_0/events.out.tfevents.*"))  # logs live in the run folder
    assert events
    accumulator = EventAccumulator(str(events[0].parent), size_guidance={"images": 0})
    accumulator.Reload()
    assert "preview" in accumulator.Tags()["images"]
    steps = [event.step for event in accumulator.Images("preview")]
    assert steps == [1, 2]
    assert {"train/loss", "train/patch", "train/dir", "train/content", "train/tv"} <= set(accumulator.Tags()["scalars"])


def test_resuming_does_not_reinitialise_the_decoder(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> None:
    args = fit_args(clip_path, vgg_path, content_dir, tmp_path, steps=1)
    with warnings.catch_warnings(record=True) as first:
        warnings.simplefilter("always")
        assert main(["fit", *args]) == 0
    assert any("RANDOM weights" in str(w.message) for w in first)
    longer = [*args[: args.index("--trainer.max_steps")], "--trainer.max_steps", "2", *args[args.index("--trainer.max_steps") + 2 :]]
    with warnings.catch_warnings(record=True) as resumed:
        warnings.simplefilter("always")
        assert main(["fit", *longer, "--ckpt_path", "last"]) == 0
    assert not any("RANDOM weights" in str(w.message) for w in resumed)
    ckpt = torch.load(tmp_path / "checkpoints" / "sketch-with-black-pencil" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2
