"""Quality metrics on cases with known answers, and the validation callback in a real Trainer run."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import CSVLogger
from torchmetrics.image import StructuralSimilarityIndexMeasure

from clipstyler_fast.eval.metrics import ClipDirectionalSimilarity, content_ssim, edge_keeping
from clipstyler_fast.nets.clip_model import load_clip
from clipstyler_fast.objective import losses
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.model import StyleTransfer


@pytest.fixture(scope="module")
def clip(clip_path):
    return load_clip(clip_path)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(4, 3, 8, 8, generator=generator), size=(40, 40), mode="bilinear", align_corners=False)
    return smooth.clamp(0, 1)


CLIP_KEY, SSIM_KEY = "val/clip_direction", "val/content_ssim"


def test_identical_images_have_ssim_one_and_changes_lower_it(photos):
    assert torch.allclose(content_ssim(photos, photos), torch.ones(len(photos)), atol=1e-5)
    noisy = (photos + 0.2 * torch.randn(photos.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    scores = content_ssim(noisy, photos)
    assert scores.shape == (len(photos),) and (scores < 0.9).all()
    metric = StructuralSimilarityIndexMeasure(data_range=1.0)
    metric.update(noisy, photos)
    assert torch.isclose(metric.compute(), scores.mean(), atol=1e-5)


def test_moving_along_the_text_direction_scores_higher(clip, photos):
    content = photos[:1]
    along = 1 - content  # a strong change: the negative
    other = content.flip(-1).roll(7, dims=-2)  # a different change
    with torch.no_grad():
        c, a, o = (clip.encode_image(x) for x in (content, along, other))
    # The text direction is, by construction, the CLIP step content -> `along`.
    direction = losses.normalize(losses.normalize(a[0]) - losses.normalize(c[0]))
    metric = ClipDirectionalSimilarity(direction, clip.encode_image)
    score_along = metric.scores(along, content)
    score_other = metric.scores(other, content)
    assert torch.isclose(score_along, torch.ones(1), atol=1e-5)
    assert score_other < score_along - 0.05
    # Against the opposite direction the same step scores -1.
    assert torch.isclose(ClipDirectionalSimilarity(-direction, clip.encode_image).scores(along, content), -torch.ones(1), atol=1e-5)
    # A stylization that did not move at all scores 0.
    assert metric.scores(content, content).abs().item() < 1e-6


def test_mean_over_updates_is_the_mean_of_all_pairs_and_matches_the_loss(clip, photos):
    generator = torch.Generator().manual_seed(2)
    direction = losses.normalize(torch.randn(clip.model.text_projection.shape[1], generator=generator))
    stylized = (photos + 0.3 * torch.rand(photos.shape, generator=generator)).clamp(0, 1)
    metric = ClipDirectionalSimilarity(direction, clip.encode_image)
    metric.update(stylized[:3], photos[:3])
    metric.update(stylized[3:], photos[3:])
    with torch.no_grad():
        s, c = clip.encode_image(stylized), clip.encode_image(photos)
    # Directional similarity is 1 - the global directional loss of training.
    assert torch.isclose(metric.compute(), 1 - losses.global_directional_loss(s, c, direction), atol=1e-5)
    by_features = ClipDirectionalSimilarity(direction)  # embeddings instead of images
    by_features.update(s, c)
    assert torch.isclose(by_features.compute(), metric.compute(), atol=1e-6)


def test_validation_logs_the_metrics_read_off_its_own_terms(clip_path, vgg_path, content_dir, tmp_path):
    model = StyleTransfer(
        prompt="Mosaic",
        clip_model=str(clip_path),
        vgg_weights=str(vgg_path),
        decoder_init="random",
        num_views=2,
        preview_every_n_steps=0,
        frozen_precision="fp32",
    )
    data = ContentDataModule(path=str(content_dir), batch_size=2, crop_size=32, num_holdout=3, num_workers=0)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    results = trainer.validate(model, datamodule=data, verbose=False)[0]
    assert {CLIP_KEY, SSIM_KEY} <= set(results)
    # The same numbers, computed independently from the held-out images.
    images = torch.stack([data.val_dataloader().dataset[i]["image"] for i in range(3)])
    with torch.no_grad():
        output = model.decoder(model.encoder(images))
        s, c = model.clip.encode_image(output), model.clip.encode_image(images)
    expected_direction = F.cosine_similarity(
        losses.normalize(losses.normalize(s) - losses.normalize(c)), model.text_direction.expand_as(s), dim=-1
    ).mean()
    assert results[CLIP_KEY] == pytest.approx(float(expected_direction), abs=1e-5)
    assert results[CLIP_KEY] == pytest.approx(1 - results["val/dir"], abs=1e-6)
    assert results[SSIM_KEY] == pytest.approx(float(content_ssim(output.clamp(0, 1), images).mean()), abs=1e-5)
    assert -1 <= results[CLIP_KEY] <= 1 and results[SSIM_KEY] < 1


def test_training_log_shows_the_metrics_of_every_validation(clip_path, vgg_path, content_dir, tmp_path):
    model = StyleTransfer(
        prompt="Mosaic", clip_model=str(clip_path), vgg_weights=str(vgg_path), decoder_init="random", num_views=2, preview_every_n_steps=0
    )
    data = ContentDataModule(path=str(content_dir), batch_size=2, crop_size=32, num_holdout=2, num_workers=0)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=CSVLogger(tmp_path, name="run"),
        max_steps=2,
        val_check_interval=1,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=data)
    with open(Path(trainer.logger.log_dir) / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    logged = [(row["step"], float(row[CLIP_KEY]), float(row[SSIM_KEY])) for row in rows if row.get(CLIP_KEY)]
    assert [step for step, _, _ in logged] == ["0", "1"]  # one entry per validation
    assert all(-1 <= d <= 1 and -1 <= s <= 1 for _, d, s in logged)
    assert logged[0][1:] != logged[1][1:]  # the second validation saw a trained decoder


def test_patch_score_tells_a_texture_from_a_change_at_the_border() -> None:
    """A red border band moves the whole image's mean as far as a red tint does, so the global
    score rates them alike; most patches of the banded image did not move, so the patch score
    does not."""
    from clipstyler_fast.eval.metrics import directional_similarity, patch_directional_similarity

    def mean_colour(images: torch.Tensor) -> torch.Tensor:  # a stand-in CLIP: the mean colour
        return images.mean(dim=(2, 3))

    content = torch.full((1, 3, 64, 64), 0.5)
    tint = content.clone()
    tint[:, 0] += 0.2
    band = content.clone()
    band[:, 0, :8, :] = band[:, 0, -8:, :] = 0.5 + 0.2 * 64 / 16  # same mean shift, at the border only
    direction = torch.nn.functional.normalize(torch.tensor([1.0, -0.5, -0.5]), dim=0)
    content_features = mean_colour(content)
    global_tint = directional_similarity(mean_colour(tint), content_features, direction)
    global_band = directional_similarity(mean_colour(band), content_features, direction)
    assert abs(float(global_tint - global_band)) < 0.05
    patches = dict(num_patches=16, crop=0.5, generator=torch.Generator().manual_seed(0))
    patch_tint = patch_directional_similarity(mean_colour, tint, content_features, direction, **patches)
    patch_band = patch_directional_similarity(mean_colour, band, content_features, direction, **patches)
    assert float(patch_tint) > float(patch_band) + 0.2


def test_edge_keeping_tells_a_kept_photo_from_a_flat_or_unrelated_image() -> None:
    """Where SSIM gives a flat image about 0.5, edge keeping gives it 0; the world's ideal styles
    that keep the photo (a tint, a sketch, noise) score high, a texture over the photo between."""
    from torchmetrics.functional.image import spatial_correlation_coefficient

    from benchmarks.fidelity import world

    generator = torch.Generator().manual_seed(0)
    photos = world.photos(8, 64, generator)
    flat = photos.mean((2, 3), keepdim=True).expand_as(photos).clone()
    border = flat.clone()
    border[..., :6, :] = torch.rand(8, 3, 6, 64, generator=generator)
    unrelated = world.photos(8, 64, generator)
    noisy = (photos + 0.1 * torch.randn(photos.shape, generator=generator)).clamp(0, 1)
    red, sketch = world.tint(photos, world.TINTS["red"], generator), world.sketch(photos, generator)
    stripes = world.stripes(photos, generator)

    def score(images: torch.Tensor) -> float:
        return float(edge_keeping(images, photos).mean())

    assert score(photos) == pytest.approx(1.0, abs=1e-5)
    assert score(flat) == 0.0 and content_ssim(flat, photos).mean() > 0.4
    for nothing_kept in (border, unrelated):
        assert abs(score(nothing_kept)) < 0.15
    for kept in (red, noisy, sketch):
        assert score(kept) > 0.5
    assert 0.15 < score(stripes) < score(sketch)
    # torchmetrics' spatial correlation (a per-pixel high-pass) misses a sketch's kept edges and
    # is swamped by pixel noise: the blur before comparing edges is why this score is our own.
    assert abs(float(spatial_correlation_coefficient(sketch, photos).mean())) < 0.1
    assert float(spatial_correlation_coefficient(noisy, photos).mean()) < 0.3
