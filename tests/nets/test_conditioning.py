"""The conditioned decoder: FiLM from the text direction, and its exact folding into a plain decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clipstyler_fast.nets.conditioning import ConditionedDecoder, ConditioningConfig, specialize
from clipstyler_fast.nets.decoder import build_decoder


def _network(seed: int = 0, modulated: bool = True) -> ConditionedDecoder:
    torch.manual_seed(seed)
    network = ConditionedDecoder(ConditioningConfig(embed_dim=16, hidden=32))
    if modulated:  # as after training: the zero start replaced by real scales and shifts
        torch.nn.init.normal_(network.film.net[-1].weight, std=0.2)
        torch.nn.init.normal_(network.film.net[-1].bias, std=0.05)
    return network.eval()


def _directions(count: int) -> torch.Tensor:
    return F.normalize(torch.randn(count, 16, generator=torch.Generator().manual_seed(1)), dim=-1)


def test_an_untrained_network_is_its_start_decoder_whatever_the_prompt() -> None:
    network = _network(modulated=False)
    features = torch.rand(3, 512, 4, 5)
    with torch.no_grad():
        assert torch.equal(network(features, _directions(3)), network.decoder(features))


def test_each_image_of_a_batch_follows_its_own_direction() -> None:
    network, features, directions = _network(), torch.rand(3, 512, 4, 4), _directions(3)
    with torch.no_grad():
        batch = network(features, directions)
        alone = torch.cat([network(features[i : i + 1], directions[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, alone)
    assert (batch[0] - batch[1]).abs().max() > 1e-3  # the directions do change the output


def test_folding_a_direction_into_the_decoder_gives_the_same_images() -> None:
    network, features, direction = _network(), torch.rand(2, 512, 5, 3), _directions(1)[0]
    plain = build_decoder().eval()
    plain.load_state_dict(specialize(network.decoder, network.film, direction))
    with torch.no_grad():
        torch.testing.assert_close(plain(features), network(features, direction.expand(2, -1)), rtol=1e-5, atol=1e-5)
