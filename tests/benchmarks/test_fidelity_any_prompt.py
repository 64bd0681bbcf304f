"""Any prompt in the synthetic world, through the real CLI: a network trained on seven colour
words (and blends of two) turns held-out photos toward a word of its bank while keeping them.
How far it goes toward an eighth colour it never trained on is not yet a property of the method
in CI's short run: it follows float rounding, so the expected failure below records it without
holding the suite to it (benchmarks/RESULTS.md has the measurements)."""

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
# In content spreads beyond the start decoder, with the trained world VGG: the bank word red
# +2.00 to +2.02, keeping edges 0.27 to 0.35. The unseen green against its own network: +0.04 of
# +0.81 (5%) on an Intel Xeon, +0.67 of +1.48 (45%) on an AMD EPYC, +1.58 of +1.89 (84%) on the
# same EPYC once Adam was fused (its update differs only by rounding).
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
    strict=False,
    reason="in CI's 400 steps how far an unseen colour moves follows float rounding: 5%, 45% and 84% of its own "
    "network's shift in three runs that differ only by CPU and Adam kernel; benchmarks/RESULTS.md has the figures",
)
def test_an_unseen_colour_moves_half_as_far_as_its_own_network(shifts: dict[str, dict[str, float]]) -> None:
    unseen, own = shifts[f"{UNSEEN}:any"]["vs_decoder"], shifts[f"{UNSEEN}:per-prompt"]["vs_decoder"]
    assert own > 0 and unseen >= MIN_UNSEEN_SHARE * own, shifts
