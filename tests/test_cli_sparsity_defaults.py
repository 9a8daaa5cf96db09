"""A profile's sparsity section is the CLI's default, --dense turns it off, and the profile's measured densities
of a network still apply when only other sparsity flags are given."""

import json

from energysim.cli import main

from badinput import expect_error


def _layers(capsys, *extra):
    assert main(["estimate", "alexnet", "--profile", "eyeriss-chip", "--dataflow", "rs-template", "--json",
                 *extra]) == 0
    d = json.loads(capsys.readouterr().out)
    return d["total_energy"], {l["name"]: l for l in d["layers"]}


def test_dense_turns_the_profile_sparsity_off(capsys):
    sparse, s_layers = _layers(capsys)
    dense, d_layers = _layers(capsys, "--dense")
    assert dense > sparse
    # run-length coding of feature maps in DRAM is a profile default: the dense DRAM traffic is larger
    assert d_layers["features.4"]["dram_bytes"] > s_layers["features.4"]["dram_bytes"]


def test_measured_densities_stay_with_other_flags(capsys):
    default, _ = _layers(capsys)
    same_bits, _ = _layers(capsys, "--bits", "w=16,i=16,o=16")  # the profile's own widths
    assert same_bits == default


def test_dense_with_a_sparsity_flag_is_an_error(capsys):
    expect_error(main, ["estimate", "lenet5", "--profile", "eyeriss-chip", "--dense", "--gating"], capsys,
                 "--dense", "--gating")
