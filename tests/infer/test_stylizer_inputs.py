"""``Stylizer`` inputs: one (3, H, W) image, batches, PIL images and lists of either; anything else is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from support import make_photo

from clipstyler_fast.errors import ClipstylerError, StylizerInputError
from clipstyler_fast.infer.stylizer import Stylizer


@pytest.fixture(scope="module")
def stylizer(trained_style: Path) -> Stylizer:
    return Stylizer.from_checkpoint(trained_style, precision="32-true")


def test_one_image_tensor_gives_one_image_tensor(stylizer: Stylizer) -> None:
    image = torch.rand(3, 21, 35)
    with torch.inference_mode():
        out = stylizer(image)
        batched = stylizer(image[None])
    assert out.shape == (3, 21, 35) and out.dtype == torch.float32
    torch.testing.assert_close(out, batched[0], rtol=0, atol=0)


def test_lists_give_lists_of_the_same_kind(stylizer: Stylizer) -> None:
    photos = [make_photo(37, 23, seed=1), make_photo(16, 40, seed=2).convert("L")]
    out = stylizer(photos)
    assert isinstance(out, list) and [type(o) for o in out] == [Image.Image, Image.Image]
    assert [o.size for o in out] == [(37, 23), (16, 40)]
    assert out[0].tobytes() == stylizer(photos[0]).tobytes()
    tensors = [torch.rand(3, 20, 30), torch.rand(3, 17, 9), torch.rand(2, 3, 8, 8)]
    with torch.inference_mode():
        results = stylizer(tuple(tensors))
        first = stylizer(tensors[0])
    assert isinstance(results, list) and [r.shape for r in results] == [t.shape for t in tensors]
    torch.testing.assert_close(results[0], first, rtol=0, atol=0)
    with pytest.raises(StylizerInputError, match="empty list"):
        stylizer([])  # nothing to stylize is a caller's mistake, said in one line


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (torch.rand(1, 20, 20), "tensor of shape (1, 20, 20)"),
        (torch.rand(2, 4, 20, 20), "tensor of shape (2, 4, 20, 20)"),
        (torch.rand(20, 20), "tensor of shape (20, 20)"),
        (torch.rand(1, 1, 3, 20, 20), "tensor of shape (1, 1, 3, 20, 20)"),
        (torch.zeros(3, 20, 20, dtype=torch.uint8), "uint8 tensor"),
        (torch.rand(3, 0, 20), "tensor of shape (3, 0, 20)"),
        (7, "given a int"),
        ("photo.jpg", "given a str"),
        ([torch.rand(3, 8, 8), "photo.jpg"], "list holding a str at index 1"),
        ([torch.rand(3, 1, 8, 8)], "tensor of shape (3, 1, 8, 8)"),
    ],
)
def test_anything_else_is_a_one_line_error(stylizer: Stylizer, given: object, named: str) -> None:
    with pytest.raises(StylizerInputError) as caught:
        stylizer(given)
    message = str(caught.value)
    assert isinstance(caught.value, ClipstylerError) and "\n" not in message
    assert named in message and "a PIL image, a float tensor (3, H, W) or (B, 3, H, W)" in message


def test_postprocess_none_means_the_raw_output_in_stylizer_as_in_export(stylizer: Stylizer) -> None:
    from clipstyler_fast.infer.export import EXPORT_POSTPROCESS

    raw = Stylizer(stylizer.network, postprocess="none", precision="32-true")
    image = torch.rand(1, 3, 24, 24)
    with torch.inference_mode():
        out = raw(image)
        clamped = stylizer(image)
        network = stylizer.network(image)
    assert "none" in EXPORT_POSTPROCESS and raw.postprocess == "none"
    torch.testing.assert_close(out, network, rtol=0, atol=1e-6)  # nothing applied after the network
    torch.testing.assert_close(clamped, network.clamp(0, 1), rtol=0, atol=1e-6)
