"""Blending refuses a pretrain decoder (no prompt) in one line: it is not a style."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import make_photo

from clipstyler_fast.cli.main import main
from clipstyler_fast.nets.style_file import StyleFile, StyleRecord


@pytest.fixture(scope="module")
def style(trained_style: Path) -> Path:
    return trained_style


@pytest.fixture(scope="module")
def pretrain_decoder(style: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A decoder checkpoint as ``pretrain`` writes it: same decoder layout, a record with no prompt."""
    source = StyleFile.read(style)
    record = StyleRecord(prompt=None, encoder=source.record.encoder, vgg_weights=source.record.vgg_weights)
    return StyleFile(record, source.decoder).write(tmp_path_factory.mktemp("pretrain") / "decoder.ckpt")


@pytest.mark.parametrize("order", ["style-first", "decoder-first"])
def test_blending_with_a_pretrain_decoder_says_it_is_not_a_style(style, pretrain_decoder, order, tmp_path, capsys):
    pair = [str(style), str(pretrain_decoder)] if order == "style-first" else [str(pretrain_decoder), str(style)]
    output = tmp_path / "blend.ckpt"
    assert main(["interpolate", *pair, "--alpha", "0.5", "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: ") and f"{pretrain_decoder}: not a style checkpoint" in err
    assert not output.exists()


def test_strip_with_a_pretrain_decoder_says_it_is_not_a_style(style, pretrain_decoder, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    make_photo(24, 16, seed=0).save(photo)
    output = tmp_path / "strip.png"
    assert main(["interpolate", str(style), str(pretrain_decoder), "--strip", str(photo), "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a style checkpoint" in err
    assert not output.exists()
