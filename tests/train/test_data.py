"""The content DataModule: folders, image modes, EXIF, crops, held-out split, early errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from support import make_photo

from clipstyler_fast.cli.main import main
from clipstyler_fast.errors import DataError
from clipstyler_fast.io.images import list_images, read_rgb
from clipstyler_fast.train.data import ContentDataModule
from clipstyler_fast.train.datasets import RandomCropDataset
from clipstyler_fast.train.sampling import EpochSampler


def test_missing_and_empty_folders_fail_before_any_model_is_loaded(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    # The weight sources do not exist: had a model been loaded first, that error would show instead.
    common = [
        "--model.prompt",
        "Mosaic",
        "--model.clip_model",
        str(tmp_path / "no-clip.pt"),
        "--model.vgg_weights",
        str(tmp_path / "no-vgg.pth"),
        "--trainer.accelerator",
        "cpu",
        "--trainer.logger",
        "false",
        "--checkpoint.root",
        str(tmp_path / "ck"),
    ]
    for folder, message in [(tmp_path / "absent", "folder does not exist"), (empty, "no images found")]:
        assert main(["fit", "--data.path", str(folder), *common]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith(f"error: {folder}: ") and message in lines[-1]
        assert "--data.path" in lines[-1] or "looked for" in lines[-1]


def test_recursive_listing_skips_hidden_and_non_images(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ["x.JPG", "a/y.png", "a/b/z.webp", ".hidden/h.png", "a/readme.md"]:
        path = tmp_path / name
        if name.endswith(".md"):
            path.write_text("x")
        else:
            make_photo(16, 16, 0).save(path, format={"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[name.rsplit(".", 1)[1].lower()])
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a/b/z.webp", "a/y.png", "x.JPG"]


def test_modes_become_rgb_and_exif_orientation_is_applied(tmp_path: Path) -> None:
    base = make_photo(30, 20, 1)
    base.convert("L").save(tmp_path / "gray.png")
    base.convert("P").save(tmp_path / "palette.png")
    base.convert("CMYK").save(tmp_path / "cmyk.jpg")
    base.convert("RGBA").save(tmp_path / "rgba.png")
    for name in ["gray.png", "palette.png", "cmyk.jpg", "rgba.png"]:
        image = read_rgb(tmp_path / name)
        assert image.shape == (3, 20, 30) and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    base.save(tmp_path / "rotated.jpg", exif=exif)
    assert read_rgb(tmp_path / "rotated.jpg").shape == (3, 30, 20)


def test_small_images_are_upscaled_keeping_aspect_and_crops_are_seeded(tmp_path: Path) -> None:
    make_photo(20, 10, 2).save(tmp_path / "small.png")
    dataset = RandomCropDataset(list_images(tmp_path), crop_size=32, seed=0, per_epoch=4)
    sample = dataset[3]
    assert sample["image"].shape == (3, 32, 32)
    # Upscaled to 64x32 (aspect kept), so the crop is a horizontal window: different offsets differ.
    crops = {tuple(dataset[i]["image"][0, 0, :4].tolist()) for i in range(12)}
    assert len(crops) > 1
    assert torch.equal(dataset[5]["image"], RandomCropDataset(list_images(tmp_path), 32, 0, 4)[5]["image"])


def test_holdout_is_fixed_and_disjoint(content_dir: Path) -> None:
    a = ContentDataModule(str(content_dir), num_holdout=2, crop_size=32, num_workers=0)
    b = ContentDataModule(str(content_dir), num_holdout=2, crop_size=32, num_workers=0)
    a.setup("fit")
    b.setup("fit")
    assert a.holdout_paths == b.holdout_paths and len(a.holdout_paths) == 2
    assert len(a.train_paths) == 6 and not set(a.train_paths) & set(a.holdout_paths)
    batch = next(iter(a.val_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32)


def test_sampler_covers_each_epoch_and_skips_consumed_batches() -> None:
    sampler = EpochSampler(num_images=7, batch_size=2)
    assert list(sampler) == list(range(6))  # 3 full batches; the odd image waits for the next epoch's shuffle
    sampler.set_epoch(2)
    sampler.skip_batches = 1
    assert list(sampler) == [14, 15, 16, 17]
    assert list(sampler) == list(range(12, 18))  # the skip applies once
    tiny = EpochSampler(num_images=1, batch_size=4)
    assert list(tiny) == [0, 1, 2, 3]  # a folder smaller than a batch still fills it
    ranks = [list(EpochSampler(8, 2, rank=r, world_size=2)) for r in range(2)]
    assert ranks == [[0, 1, 4, 5], [2, 3, 6, 7]]


def test_bad_crop_size_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="multiple of 8"):
        ContentDataModule("data/samples", crop_size=100)


def test_max_pixels_is_the_only_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clipstyler_fast.errors import ImageReadError

    make_photo(40, 30, 3).save(tmp_path / "photo.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own limit far below the image
    assert read_rgb(tmp_path / "photo.png", max_pixels=None).shape == (3, 30, 40)
    assert read_rgb(tmp_path / "photo.png", max_pixels=1200).shape == (3, 30, 40)
    with pytest.raises(ImageReadError, match="40x30 exceeds the pixel limit of 1199"):
        read_rgb(tmp_path / "photo.png", max_pixels=1199)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored for the rest of the process
