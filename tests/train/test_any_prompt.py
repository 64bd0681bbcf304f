"""Any-prompt training through ``clipstyler-fast fit --data.prompts``: one network for a bank of
prompts, resumed exactly, recorded in its checkpoint, and refined into an ordinary style."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image
from support import fit_args, run_cli

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.any_prompt import load_style
from clipstyler_fast.nets.conditioned_file import ConditionedFile, bank_sha256
from clipstyler_fast.nets.conditioning import DESIGN
from clipstyler_fast.nets.style_file import FORMAT_KEY, StyleFile

REPO = Path(__file__).resolve().parents[2]
BANK = ["Red", "Blue", "Mosaic", "Watercolor", "Sketch", "Stripes", "Neon", "Gold"]


def any_prompt_args(root: Path, clip: Path, vgg: Path, data: Path, bank: Path, steps: int, *extra: str) -> list[str]:
    return fit_args(
        clip,
        vgg,
        data,
        "--data.prompts",
        str(bank),
        "--model.holdout_prompts",
        "2",
        "--seed_everything",
        "0",
        "--trainer.val_check_interval",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--checkpoint.every_n_train_steps",
        "1",
        *extra,
        prompt=None,
        checkpoints=root / "checkpoints",
        steps=steps,
        batch=3,
    )


@pytest.fixture(scope="module")
def bank_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "bank.txt"
    path.write_text("# styles\n" + "\n".join(BANK) + "\n\nRed\n")  # a comment, a blank line and a repeat
    return path


@pytest.fixture(scope="module")
def any_prompt_run(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, content_dir: Path, bank_file: Path) -> Path:
    """Four steps of any-prompt training, with a CSV log and preview grids; the run's folder."""
    root = tmp_path_factory.mktemp("any")
    logged = ["--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", str(root / "logs")]
    extra = [*logged, "--trainer.log_every_n_steps", "1", "--model.preview_every_n_steps", "2"]
    assert main(any_prompt_args(root, clip_path, vgg_path, content_dir, bank_file, 4, *extra)) == 0
    return root / "checkpoints" / "any-prompt"


def test_validation_scores_held_out_photos_for_seen_and_unseen_prompts(any_prompt_run: Path) -> None:
    rows = list(csv.DictReader(next((any_prompt_run.parents[1] / "logs").rglob("metrics.csv")).open()))
    logged = {key for row in rows for key, value in row.items() if value}
    for group in ("val", "val_unseen"):
        assert {f"{group}/loss", f"{group}/clip_direction", f"{group}/content_ssim"} <= logged, sorted(logged)
    unseen = [float(row["val_unseen/clip_direction"]) for row in rows if row.get("val_unseen/clip_direction")]
    assert len(unseen) == 2 and all(-1 <= v <= 1 for v in unseen)  # validations at steps 2 and 4


def test_preview_grids_have_one_row_per_prompt(any_prompt_run: Path) -> None:
    grids = sorted((any_prompt_run.parents[1] / "logs").rglob("previews/*.png"))
    assert grids, "no preview grid written"
    grid = Image.open(grids[-1])
    # torchvision's make_grid: 2 px padding around 32 px held-out crops; contents + 4 seen + 1 unseen prompt.
    assert (grid.height - 2) // (32 + 2) == 1 + 4 + 1


@pytest.mark.slow
def test_two_cpu_processes_train_one_any_prompt_network(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, bank_file: Path
) -> None:
    args = any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank_file, 2, "--trainer.devices", "2", "--trainer.strategy", "ddp")
    done = run_cli(*args, cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in done.stderr + done.stdout, "two processes ran"
    network = ConditionedFile.read(tmp_path / "checkpoints" / "any-prompt" / "style.ckpt")
    assert torch.load(tmp_path / "checkpoints" / "any-prompt" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert network.network.film.net[-1].weight.abs().sum() > 0


def test_the_checkpoint_records_the_bank_the_clip_model_and_the_conditioning(any_prompt_run: Path, clip_path: Path) -> None:
    network = ConditionedFile.read(any_prompt_run / "style.ckpt")
    meta = torch.load(any_prompt_run / "style.ckpt", weights_only=True)[FORMAT_KEY]
    assert meta["network"] == "conditioned"
    assert meta["conditioning"]["bank_size"] == len(BANK)  # comment, blank line and repeat dropped
    assert meta["conditioning"]["bank_sha256"] == bank_sha256(BANK)
    assert meta["conditioning"]["design"] == DESIGN
    assert meta["clip_model"] == str(clip_path)
    assert network.bank == BANK and network.bank_directions.shape == (len(BANK), network.config.embed_dim)
    # Training moved the modulation away from its zero start: prompts now differ.
    assert network.network.film.net[-1].weight.abs().sum() > 0


def test_an_any_prompt_file_written_back_reads_the_same(any_prompt_run: Path, tmp_path: Path) -> None:
    network = ConditionedFile.read(any_prompt_run / "style.ckpt")
    again = ConditionedFile.read(network.write(tmp_path / "copy.ckpt"))
    assert again.record == network.record and again.bank == network.bank
    assert torch.equal(again.bank_directions, network.bank_directions)
    for key, value in network.network.state_dict().items():
        assert torch.equal(again.network.state_dict()[key], value)


def test_a_per_prompt_tool_given_an_any_prompt_checkpoint_says_so_in_one_line(any_prompt_run: Path) -> None:
    with pytest.raises(Exception, match=r"an any-prompt checkpoint, not a single style; give it a prompt") as caught:
        StyleFile.read(any_prompt_run / "style.ckpt")
    assert "\n" not in str(caught.value)


def test_resuming_an_any_prompt_run_is_exact(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, bank_file: Path, any_prompt_run: Path
) -> None:
    first = any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank_file, 2)
    assert main(first) == 0
    assert main([*any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank_file, 4), "--ckpt_path", "last"]) == 0
    resumed = torch.load(tmp_path / "checkpoints" / "any-prompt" / "last.ckpt", weights_only=True)
    straight = torch.load(any_prompt_run / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == straight["global_step"] == 4
    differ = [k for k, v in straight["state_dict"].items() if not torch.equal(resumed["state_dict"][k], v)]
    assert not differ, f"resumed weights differ: {differ[:5]}"
    for index, state in straight["optimizer_states"][0]["state"].items():
        assert torch.equal(resumed["optimizer_states"][0]["state"][index]["exp_avg"], state["exp_avg"])


def test_resuming_with_another_bank_is_refused(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, bank_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank_file, 1)) == 0
    other = tmp_path / "other.txt"
    other.write_text("Red\nBlue\nGreen\n")
    assert main([*any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, other, 2), "--ckpt_path", "last"]) == 2
    assert "trained on another prompt bank" in capsys.readouterr().err


def test_an_unreadable_or_tiny_bank_is_a_one_line_error_naming_the_file(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.txt"
    one.write_text("Red\n")
    for bank, expected in ((tmp_path / "missing.txt", "cannot read the prompt bank"), (one, "needs at least 2 prompts")):
        assert main(any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank, 1)) == 2
        err = capsys.readouterr().err
        assert expected in err and str(bank) in err
    assert not (tmp_path / "checkpoints").exists()


def test_refining_starts_from_the_network_specialised_to_the_prompt_and_writes_an_ordinary_style(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, any_prompt_run: Path
) -> None:
    any_ckpt = any_prompt_run / "style.ckpt"
    # A zero learning rate leaves the start weights as they were: the checkpoint shows the start.
    args = fit_args(
        clip_path, vgg_path, content_dir, "--model.init_from", str(any_ckpt), "--model.lr", "0",
        checkpoints=tmp_path / "checkpoints", prompt="Mosaic",
    )  # fmt: skip
    assert main(args) == 0
    refined = StyleFile.read(tmp_path / "checkpoints" / "mosaic" / "style.ckpt")
    expected = load_style(any_ckpt, "Mosaic")
    assert refined.record.prompt == "Mosaic" and not refined.record.is_conditioned
    for key, value in expected.decoder.items():
        torch.testing.assert_close(refined.decoder[key], value, rtol=0, atol=1e-6)


def test_refining_from_a_single_style_checkpoint_is_refused_in_one_line(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, any_prompt_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = tmp_path / "single.ckpt"
    load_style(any_prompt_run / "style.ckpt", "Red").write(single)
    args = fit_args(clip_path, vgg_path, content_dir, "--model.init_from", str(single), checkpoints=tmp_path / "checkpoints")
    assert main(args) == 2
    assert "a single-style checkpoint, not an any-prompt one" in capsys.readouterr().err


def test_an_any_prompt_run_refuses_a_single_prompt_option(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, bank_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank_file, 1, "--model.prompt", "Red")) == 2
    assert "takes no --model.prompt" in capsys.readouterr().err


def test_mixed_prompts_train_along_unit_blends_of_two_seen_bank_directions(bank_file: Path) -> None:
    from clipstyler_fast.train.any_prompt import AnyPromptStyleTransfer

    model = AnyPromptStyleTransfer(prompts=str(bank_file), holdout_prompts=2, mix_prompts=0.5)
    torch.manual_seed(0)
    model.bank_directions = torch.nn.functional.normalize(torch.randn(len(model.bank), 32), dim=-1)
    seen = model.bank_directions[model.train_ids]
    directions = model.batch_directions({"image": torch.zeros(200, 3, 8, 8), "index": torch.arange(200)})
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(200))
    single = (directions @ seen.T).amax(dim=-1) > 1 - 1e-6
    assert 0.35 < single.float().mean() < 0.65, single.float().mean()  # about half: one prompt, the rest: blends
    # Every blend lies in the span of the seen prompts' directions (never a held-out one's).
    weights = torch.linalg.lstsq(seen.T, directions[~single].T).solution
    torch.testing.assert_close(seen.T @ weights, directions[~single].T, rtol=0, atol=1e-5)
    assert ((weights.abs() > 1e-4).sum(dim=0) <= 2).all()
    assert torch.equal(directions, model.batch_directions({"image": torch.zeros(200, 3, 8, 8), "index": torch.arange(200)}))


def test_a_share_of_mixed_prompts_outside_zero_to_one_is_a_one_line_error(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path, bank_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank_file, 1, "--model.mix_prompts", "1.5")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--model.mix_prompts 1.5" in errors[0] and "from 0 to 1" in errors[0], errors


def test_the_checkpoint_records_which_prompts_were_held_out(any_prompt_run: Path) -> None:
    style = ConditionedFile.read(any_prompt_run / "style.ckpt")
    assert len(style.held_out) == 2 and set(style.held_out) <= set(style.bank), style.held_out
    # Carried through a rewrite of the file.
    rewritten = ConditionedFile.from_checkpoint(style.to_checkpoint())
    assert rewritten.held_out == style.held_out


def test_a_bank_too_small_for_the_hold_out_says_what_it_holds_out(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    bank = tmp_path / "four.txt"
    bank.write_text("Red\nBlue\nMosaic\nGold\n")
    args = any_prompt_args(tmp_path, clip_path, vgg_path, content_dir, bank, 1, "--trainer.limit_val_batches", "0")
    args[args.index("--model.holdout_prompts") + 1] = "16"  # the default, asked of a four-prompt bank
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    warned = [line for line in done.stderr.splitlines() if "--model.holdout_prompts 16" in line]
    assert len(warned) == 1 and warned[0].startswith("warning:") and "so 1 is held out" in warned[0], done.stderr[-2000:]
    said = [line for line in (done.stdout + done.stderr).splitlines() if "held out for validation" in line]
    assert len(said) == 1, done.stdout[-2000:]
    held = ConditionedFile.read(tmp_path / "checkpoints" / "any-prompt" / "style.ckpt").held_out
    assert len(held) == 1 and repr(held[0]) in said[0], (held, said)
