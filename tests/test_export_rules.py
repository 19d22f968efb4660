"""The export's pure rules: mixtures, token allocation, and feedback reweighting (no lake needed)."""

from __future__ import annotations

import json

import pytest

from warehouse.export.allocation import allocate, default_budget
from warehouse.export.feedback import Rule, Signal, propose, read_feedback
from warehouse.export.slices import MixtureError, parse_mix


def test_mix_parses_normalises_and_names_what_is_wrong():
    assert parse_mix("l3:1, l2:3") == {"l2": 0.75, "l3": 0.25}
    assert parse_mix("l2/sotu:1,l2/debian_handbook:1") == {"l2/debian_handbook": 0.5, "l2/sotu": 0.5}
    for bad, says in [
        ("l9:1", "unknown tier 'l9'"),
        ("l2:-1", "weights are finite numbers >= 0"),
        ("l2:x", "is not a number"),
        ("l2", "is not SLICE:WEIGHT"),
        ("l2:0,l3:0", "must not all be 0"),
        ("l4:1,l2:1", "cannot be mixed"),
        ("l2:1,l2/sotu:1", "both whole and per source"),
    ]:
        with pytest.raises(MixtureError, match=says):
            parse_mix(bad)


def test_allocation_meets_weights_and_moves_a_short_slice_shortfall_to_the_others():
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert allocate(weights, {"a": 10_000, "b": 10_000, "c": 10_000}, 10_000, "renormalise", 1) == {
        "a": 5_000, "b": 3_000, "c": 2_000,
    }  # fmt: skip
    # c holds 1,000 of the 2,000 it is asked for: renormalise gives the other 1,000 to a and b, 5:3
    short = allocate(weights, {"a": 10_000, "b": 10_000, "c": 1_000}, 10_000, "renormalise", 1)
    assert short == pytest.approx({"a": 5_625, "b": 3_375, "c": 1_000})
    assert sum(short.values()) == pytest.approx(10_000)
    # repeat: c may give its 1,000 twice (max_repeat 2), still short by 0 of 2,000
    assert allocate(weights, {"a": 10_000, "b": 10_000, "c": 1_000}, 10_000, "repeat", 2)["c"] == 2_000
    # nobody can meet the budget: everyone gives all it has
    assert allocate(weights, {"a": 100, "b": 100, "c": 100}, 10_000, "renormalise", 1) == {"a": 100, "b": 100, "c": 100}
    # no budget given: the largest every slice meets once (c: 1,000 / 0.2)
    assert default_budget(weights, {"a": 10_000, "b": 10_000, "c": 1_000}) == 5_000


def test_feedback_moves_weight_toward_the_harder_slice_within_the_step_and_floor():
    weights = {"l1": 0.6, "l2": 0.3, "l3": 0.1}
    rule = Rule(eta=2.0, max_step=0.1, floor=0.05)
    # l3 has the highest excess loss over the weighted mean: it gains, l1 (lowest) loses
    new = propose(weights, {"l1": Signal(2.0), "l2": Signal(2.5), "l3": Signal(3.5)}, rule)
    assert sum(new.values()) == pytest.approx(1.0)
    assert new["l3"] > weights["l3"] and new["l1"] < weights["l1"]
    assert max(abs(new[k] - weights[k]) for k in weights) == pytest.approx(0.1)  # the step bound binds
    assert min(new.values()) >= 0.05
    # reference losses: excess is against each slice's reference, so equal excess leaves weights alone
    same = propose(weights, {k: Signal(3.0 + i, reference=2.0 + i) for i, k in enumerate(weights)}, Rule(floor=0.0))
    assert same == pytest.approx(weights)
    # a slice far below its reference loses weight but never goes under the floor, however many steps
    current = dict(weights)
    for _ in range(30):
        current = propose(current, {"l3": Signal(1.0, reference=5.0)}, rule)
    assert current["l3"] == pytest.approx(0.05, abs=1e-3) and min(current.values()) >= 0.05 - 1e-9
    with pytest.raises(MixtureError, match="slices the mixture lacks"):
        propose(weights, {"l9": Signal(1.0)}, rule)


def test_feedback_files_in_csv_and_json_with_errors_that_name_the_place(tmp_path):
    csv = tmp_path / "run.csv"
    csv.write_text("slice,loss,reference_loss,step\nl1,2.5,,100\nl2,2.1,2.0,100\n")
    signals, digest = read_feedback(csv)
    assert signals == {"l1": Signal(2.5), "l2": Signal(2.1, 2.0)} and len(digest) == 64
    js = tmp_path / "run.json"
    js.write_text(json.dumps({"l1": 2.5, "l2": {"loss": 2.1, "reference_loss": 2.0}}))
    assert read_feedback(js)[0] == signals
    js.write_text(json.dumps([{"slice": "l1", "loss": 2.5}, {"slice": "l2", "loss": 2.1, "reference_loss": 2.0}]))
    assert read_feedback(js)[0] == signals
    csv.write_text("slice,loss\nl1,2.5\nl2,oops\n")
    with pytest.raises(MixtureError, match=r"run.csv line 3: 'oops' is not a number"):
        read_feedback(csv)
    js.write_text("{not json")
    with pytest.raises(MixtureError, match="invalid JSON"):
        read_feedback(js)
