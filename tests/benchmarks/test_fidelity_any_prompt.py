"""Any prompt in the synthetic world, through the real CLI: a network trained on seven colour
words (and blends of two) turns held-out photos toward a word of its bank while keeping them;
toward an eighth colour it never trained on it does not yet go half as far as that colour's own
network, which the strict expected failure below records (benchmarks/RESULTS.md has the
measurements)."""

from __future__ import annotations

import pytest

from benchmarks.fidelity import any_prompt, judge, run, world

# The session's world fixtures (its CLIP and start decoder, trained in a few minutes) run inside
# the first test that needs them, so these tests get more than the suite's per-test limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

SEEN, UNSEEN = "red", "green"
# Steps and learning rate sized for CI (benchmarks/fidelity/any_prompt.py runs the reference's
# learning rate and more steps).
ANY_STEPS, PER_PROMPT_STEPS, LR = 400, 40, "2e-4"
# In content spreads beyond the start decoder, with the trained world VGG (2026-12-03): the bank
# word red +2.01, keeping edges 0.35; the unseen green +0.04 against +0.81 for its own network
# (5%). With the world's earlier random VGG, whose outputs were flat tints, green reached 77%.
MIN_SEEN_SHIFT, MIN_SEEN_EDGES, MIN_UNSEEN_SHARE = 1.5, 0.2, 0.5
MIX = ["--model.mix_prompts", "0.5"]


@pytest.fixture(scope="module")
def shifts(world_setup: run.Setup, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    """The judge's rows for the any-prompt network at a bank word and at an unseen one, and for
    the unseen word's own per-prompt network, on the world's held-out photos."""
    tmp_path = tmp_path_factory.mktemp("any-prompt")
    bank = tmp_path / "bank.txt"
    bank.write_text("\n".join(world.PROMPTS[name] for name in world.TINTS if name != UNSEEN) + "\n")
    recipe = any_prompt.without_prompt(run.fit_command(world_setup, "red", ANY_STEPS, 4, 64, ["--model.lr", LR, *MIX]))
    root = tmp_path / "any"
    run.run_cli([*recipe, "--data.prompts", str(bank), "--model.holdout_prompts", "0", "--checkpoint.root", str(root)], cwd=tmp_path)
    prompts = [world.PROMPTS[SEEN], world.PROMPTS[UNSEEN]]
    predicted = any_prompt.predict_prompts(world_setup, root / "any-prompt" / "style.ckpt", prompts, tmp_path / "out")
    outputs = {f"{SEEN}:any": predicted[prompts[0]], f"{UNSEEN}:any": predicted[prompts[1]]}
    outputs[f"{UNSEEN}:per-prompt"] = run.train_and_predict(world_setup, UNSEEN, steps=PER_PROMPT_STEPS, extra=["--model.lr", LR])
    content = run.heldout(world_setup)
    table = judge.shifts(outputs, content, run.decoder_only(world_setup, content))
    print({name: (round(row["vs_decoder"], 2), round(row["edges"], 2)) for name, row in table.items()})
    return table


def test_a_bank_word_reaches_the_pixels_and_keeps_the_photo(shifts: dict[str, dict[str, float]]) -> None:
    row = shifts[f"{SEEN}:any"]
    assert row["vs_decoder"] >= MIN_SEEN_SHIFT and row["edges"] >= MIN_SEEN_EDGES and not row["flat"], shifts


@pytest.mark.xfail(
    strict=True,
    reason="with the trained world VGG an unseen colour moves 5% as far as its own network in CI's 400 steps "
    "(77% in the flat-tint world before); benchmarks/RESULTS.md has the benchmark's figure",
)
def test_an_unseen_colour_moves_half_as_far_as_its_own_network(shifts: dict[str, dict[str, float]]) -> None:
    unseen, own = shifts[f"{UNSEEN}:any"]["vs_decoder"], shifts[f"{UNSEEN}:per-prompt"]["vs_decoder"]
    assert own > 0 and unseen >= MIN_UNSEEN_SHARE * own, shifts
