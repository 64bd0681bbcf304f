"""The model card ``share`` writes: Hub metadata that parses, and a body that reports what the run
recorded (steps, photo count, final held-out losses) without naming a local path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from lightning.pytorch.loggers import CSVLogger
from PIL import Image
from share_support import share
from support import fit_args, style_checkpoint

from clipstyler_fast.cli.main import main
from clipstyler_fast.infer.run_record import read_run_record

README = Path(__file__).resolve().parents[2] / "README.md"
REQUIRED = {"library_name", "license", "tags", "base_encoder", "clip_model", "prompt"}


def card_parts(text: str) -> tuple[dict, str]:
    """The YAML front matter of a model card, parsed, and its body."""
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.S)
    assert match, text[:300]
    return yaml.safe_load(match.group(1)), match.group(2)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, clip_path: Path, vgg_path: Path, content_dir: Path) -> Path:
    """A real two-step ``fit`` that validates at each step and logs (TensorBoard in the dev install)."""
    root = tmp_path_factory.mktemp("card-run")
    extra = ["--trainer.val_check_interval", "1", "--trainer.default_root_dir", str(root)]
    assert main(fit_args(clip_path, vgg_path, content_dir, *extra, checkpoints=root / "checkpoints", steps=2, logger=True)) == 0
    return root / "checkpoints" / "mosaic"


@pytest.fixture(scope="module")
def card(run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    folder = share(run / "style.ckpt", tmp_path_factory.mktemp("card") / "mosaic", "--repo_id", "someone/mosaic")
    return (*card_parts((folder / "README.md").read_text()), folder)


def test_the_card_of_a_fit_run_has_hub_metadata(card) -> None:
    meta, _, _ = card
    assert REQUIRED <= meta.keys() and meta["license"] is None
    assert meta["library_name"] == "clipstyler-fast" and {"style-transfer", "text-guided"} <= set(meta["tags"])
    assert meta["base_encoder"].startswith("adain:") and meta["prompt"] == "Mosaic"
    assert meta["clip_model"] == "a local file (tiny-clip.pt)"


def test_the_card_reports_the_run_and_names_no_local_path(card, content_dir: Path, run: Path) -> None:
    _, body, folder = card
    # 8 photos, 2 of them held out.
    assert "2 optimizer steps on 6 training photos, batches of 2 crops of 32 px." in body
    assert re.search(r"\| `val/loss` \| [0-9.e+-]+ \| 1 \|", body) and "| `lambda_patch` | 10.0 |" in body
    assert "*Top row: held-out photos of the training run; below: their stylizations.*" in body
    assert "clipstyler-fast predict --ckpt_path hf://someone/mosaic --data.path photos/" in body
    assert 'Stylizer.from_checkpoint("hf://someone/mosaic")' in body and "hf upload someone/mosaic mosaic/ ." in body
    for private in (str(content_dir), str(run), str(folder), "/tmp/"):
        assert private not in body
    # Two held-out photos above their two stylizations, 192 px each with 2 px borders.
    assert Image.open(folder / "preview.jpg").size == (2 * 194 + 2, 2 * 194 + 2)


def test_a_style_without_a_run_says_not_recorded_and_previews_synthetic_images(tmp_path: Path) -> None:
    folder = share(style_checkpoint(tmp_path / "styles", seed=2), tmp_path / "shared")
    meta, body = card_parts((folder / "README.md").read_text())
    assert REQUIRED <= meta.keys()
    assert "steps not recorded on training photos not recorded." in body and "Held-out losses and metrics: not recorded." in body
    assert "built-in synthetic images" in body
    assert Image.open(folder / "preview.jpg").size == (4 * 194 + 2, 2 * 194 + 2)


def test_final_metrics_are_read_from_a_csv_logger_run_too(tmp_path: Path) -> None:
    logger = CSVLogger(save_dir=str(tmp_path), name="logs")
    logger.log_metrics({"val/loss": 2.5, "train/loss": 9.0}, step=10)
    logger.log_metrics({"val/loss": 1.5, "val_unseen/clip_direction": 0.25}, step=20)
    logger.save()
    record = read_run_record({"global_step": 20, "ContentDataModule": {"num_train_images": 12}}, tmp_path)
    assert record.metrics == {"val/loss": (1.5, 20), "val_unseen/clip_direction": (0.25, 20)}
    assert (record.steps, record.train_images) == (20, 12)


def test_the_readme_shows_a_card_as_share_writes_it(card) -> None:
    meta, body, _ = card
    text = README.read_text()
    section = text[text.index("## Share a style") :]
    shown = re.search(r"````markdown\n(.*?)\n````\n", section, re.S)
    assert shown, "the Share a style section shows a model card"
    shown_meta, shown_body = card_parts(shown.group(1) + "\n")
    assert shown_meta.keys() == meta.keys() and shown_meta["tags"] == meta["tags"]
    headings = [line for line in body.splitlines() if line.startswith("## ")]
    assert [line for line in shown_body.splitlines() if line.startswith("## ")] == headings
