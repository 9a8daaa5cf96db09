"""The engine equals the brute-force walk of the loop nest on many random small problems and mappings."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energysim.model.counts import evaluate
from energysim.model.mapping import Mapping
from energysim.model.problem import DataSpace, Problem
from energysim.arch import HardwareProfile
from energysim.workload import Layer

from bruteforce import BruteForce
from shared_paths import TIMELOOP  # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _primes(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def conv1d(rng: random.Random) -> Problem:
    K, C, R, P = rng.choice([1, 2, 3, 4]), rng.choice([1, 2, 3, 4]), rng.choice([1, 2, 3]), rng.choice([1, 2, 3, 4, 6, 8])
    st_, dil = rng.choice([1, 1, 2, 3]), rng.choice([1, 1, 2])
    return Problem(
        name="conv1d", dims=("K", "C", "R", "P"), bounds={"K": K, "C": C, "R": R, "P": P},
        data_spaces=(DataSpace("Weights", ((("K", 1),), (("C", 1),), (("R", 1),))),
                     DataSpace("Inputs", ((("C", 1),), (("R", dil), ("P", st_)))),
                     DataSpace("Outputs", ((("K", 1),), (("P", 1),)), read_write=True)),
        coefficients={"Wstride": st_, "Wdilation": dil},
    )


def conv2d(rng: random.Random) -> Problem:
    g = rng.choice([1, 1, 1, 2])
    layer = Layer(
        name="conv2d", kind="conv" if g == 1 else "grouped", op="Conv2d", N=rng.choice([1, 1, 2]),
        M=g * rng.choice([1, 2, 3]), C=g * rng.choice([1, 2]), P=rng.choice([1, 2, 3, 4]), Q=rng.choice([1, 2, 3]),
        R=rng.choice([1, 2, 3]), S=rng.choice([1, 2, 3]), stride_h=rng.choice([1, 2]), stride_w=rng.choice([1, 2]),
        dilation_h=rng.choice([1, 1, 2]), groups=g,
    )
    return Problem.from_layer(layer)


def random_case(rng: random.Random, problem: Problem):
    """A random hierarchy of 1-4 levels with random fan-outs, and a random valid mapping onto it."""
    n_levels = rng.choice([1, 2, 2, 3, 3, 4])
    fan = [(rng.choice([1, 1, 2, 3]), rng.choice([1, 1, 2])) for _ in range(n_levels)]
    levels, mx, my = [], 1, 1
    for i in range(n_levels):
        levels.append({"name": f"L{i}", "class": "dram" if i == 0 else "sram", "instances": mx * my, "mesh_x": mx,
                       "mesh_y": my, "block_size": rng.choice([1, 2, 4]), "read_pj": rng.choice([1.0, 2.5]),
                       "write_pj": 2.0, "update_pj": 3.0, "leak_pj": rng.choice([0.0, 0.01])})
        mx, my = mx * fan[i][0], my * fan[i][1]
    profile = HardwareProfile.model_validate({"name": "rnd", "levels": levels,
                                              "mac": {"energy_pj": 1.0, "instances": mx * my, "mesh_x": mx,
                                                      "mesh_y": my}})
    temporal = [dict() for _ in range(n_levels)]
    sx = [dict() for _ in range(n_levels)]
    sy = [dict() for _ in range(n_levels)]
    room = [list(f) for f in fan]
    for d in problem.dims:
        for p in _primes(problem.bounds[d]):
            i = rng.randrange(n_levels)
            kind = rng.choice("TTXY")
            if kind == "X" and room[i][0] % p == 0:
                sx[i][d] = sx[i].get(d, 1) * p
                room[i][0] //= p
            elif kind == "Y" and room[i][1] % p == 0:
                sy[i][d] = sy[i].get(d, 1) * p
                room[i][1] //= p
            else:
                temporal[i][d] = temporal[i].get(d, 1) * p
    lms = []
    for i in range(n_levels):
        perm = list(problem.dims)
        rng.shuffle(perm)
        keep = None
        if i > 0:
            keep = [d for d in problem.data_space_names if rng.random() < 0.6]
        lms.append({"level": f"L{i}", "temporal": temporal[i], "permutation": perm, "spatial_x": sx[i],
                    "spatial_y": sy[i], "keep": keep})
    return profile, Mapping.model_validate({"levels": lms})


def check(problem, profile, mapping):
    stats = evaluate(problem, profile, mapping)
    bf = BruteForce(problem, profile, mapping)
    for (i, d), want in bf.counts.items():
        lv = profile.levels[i].name
        got = {k: stats.count(lv, d, k) for k in ("reads", "fills", "updates")}
        assert got == want, f"{lv}/{d}: engine {got} != brute force {want}\n{mapping.to_text(problem, profile)}"
    assert len(stats.rows) == len(bf.counts)


@settings(max_examples=800, **SETTINGS)
@given(st.randoms(use_true_random=False))
def test_conv1d_random(rng):
    problem = conv1d(rng)
    check(problem, *random_case(rng, problem))


@settings(max_examples=700, **SETTINGS)
@given(st.randoms(use_true_random=False))
def test_conv2d_random(rng):
    problem = conv2d(rng)
    check(problem, *random_case(rng, problem))


def test_sliding_window_depends_on_loop_order():
    """Inputs slide only when the sliding loop is the innermost loop above the buffer (ispass01 ws vs eyeriss)."""
    p = Problem("conv1d", ("K", "C", "R", "P"), {"K": 2, "C": 1, "R": 3, "P": 4}, (
        DataSpace("Weights", ((("K", 1),), (("C", 1),), (("R", 1),))),
        DataSpace("Inputs", ((("C", 1),), (("R", 1), ("P", 1)))),
        DataSpace("Outputs", ((("K", 1),), (("P", 1),)), read_write=True)))
    prof = HardwareProfile.model_validate({"name": "t", "levels": [
        {"name": "D", "class": "dram", "read_pj": 1, "write_pj": 1},
        {"name": "B", "read_pj": 1, "write_pj": 1}], "mac": {"energy_pj": 1}})
    inner_p = Mapping.model_validate({"levels": [{"level": "D", "temporal": {"K": 2, "P": 4}, "permutation": ["K", "P"]},
                                                 {"level": "B", "temporal": {"R": 3}}]})
    inner_k = Mapping.model_validate({"levels": [{"level": "D", "temporal": {"K": 2, "P": 4}, "permutation": ["P", "K"]},
                                                 {"level": "B", "temporal": {"R": 3}}]})
    a = evaluate(p, prof, inner_p).count("B", "Inputs", "fills")
    b = evaluate(p, prof, inner_k).count("B", "Inputs", "fills")
    assert a == 2 * (3 + 3 * 1)  # per K: first window of 3, then 1 new word per P step
    assert b == 4 * 3  # K innermost: the window is kept across K, but P steps refetch whole windows
    for m in (inner_p, inner_k):
        check(p, prof, m)


SMALL_CASES = ["ispass00_conv1d_1level", "ispass01_conv1d_2level_os", "ispass01_conv1d_2level_ws",
               "ispass02_conv1d_oc_2level_tiled", "ispass03_conv1d_oc_3level_bypass",
               "ispass03_conv1d_oc_3level_nobypass", "ispass04_conv1d_oc_ic_spatial_kp"]


@pytest.mark.parametrize("case", SMALL_CASES)
def test_bruteforce_reproduces_timeloop(case):
    """The brute-force rules themselves give Timeloop's printed counts on the small reference cases."""
    from energysim.interop.timeloop import TimeloopCase

    c = TimeloopCase.load(TIMELOOP / case)
    bf = BruteForce(c.problem, c.profile, c.mapping)
    for (i, d), got in bf.counts.items():
        ref = c.reference[c.profile.levels[i].name]["data_spaces"][d]
        assert got == {k: int(ref[k]) for k in ("reads", "fills", "updates")}, (case, i, d)


def _conv1d_exact(K=1, C=1, R=3, P=4, stride=1):
    return Problem("conv1d", ("K", "C", "R", "P"), {"K": K, "C": C, "R": R, "P": P}, (
        DataSpace("Weights", ((("K", 1),), (("C", 1),), (("R", 1),))),
        DataSpace("Inputs", ((("C", 1),), (("R", 1), ("P", stride)))),
        DataSpace("Outputs", ((("K", 1),), (("P", 1),)), read_write=True)))


def _two_level(fx=1, fy=1, **buf):
    return HardwareProfile.model_validate({"name": "t", "levels": [
        {"name": "D", "class": "dram", "read_pj": 10, "write_pj": 10, "block_size": 4},
        {"name": "B", "read_pj": 1, "write_pj": 1, "instances": fx * fy, "mesh_x": fx, "mesh_y": fy, **buf}],
        "mac": {"energy_pj": 0.5, "instances": fx * fy, "mesh_x": fx, "mesh_y": fy}})


def test_multicast_counts_coinciding_tiles_of_one_fanout():
    """P and R unrolled on the same fan-out: PEs (p, r) and (p+1, r-1) need the same input word."""
    p = _conv1d_exact(R=2, P=2)
    prof = _two_level(fx=2, fy=2)
    m = Mapping.model_validate({"levels": [{"level": "D", "spatial_x": {"P": 2}, "spatial_y": {"R": 2}}]})
    s = evaluate(p, prof, m)
    assert s.count("D", "Inputs", "reads") == 3  # 4 PEs, 3 distinct input words
    assert s.count("D", "Weights", "reads") == 2  # multicast over P
    assert s.count("D", "Outputs", "updates") == 2  # reduced over R in the network
    check(p, prof, m)


def test_partial_use_of_the_array_cycles_and_utilization():
    p = _conv1d_exact(K=3, P=4)
    prof = _two_level(fx=4, read_bandwidth=1, write_bandwidth=1)
    m = Mapping.model_validate({"levels": [{"level": "D", "temporal": {"K": 3, "R": 3}, "permutation": ["K", "R"],
                                            "spatial_x": {"P": 2}},
                                           {"level": "B", "temporal": {"P": 2}}]})
    s = evaluate(p, prof, m)
    assert s.extra["utilized_instances"]["B"] == 2
    assert s.cycles >= p.macs // 2 and s.utilization == pytest.approx(p.macs / (s.cycles * 4))
    df = s.to_frame()
    assert (df[df.level == "B"].instances == 2).all()
    check(p, prof, m)


def test_energy_rounds_blocks_per_instance():
    p = _conv1d_exact(P=6)  # 18 MACs; DRAM block of 4 words
    prof = _two_level()
    m = Mapping.model_validate({"levels": [{"level": "D"}, {"level": "B", "temporal": {"R": 3, "P": 6}}]})
    s = evaluate(p, prof, m)
    row = s.to_frame().set_index(["level", "dataspace"]).loc[("D", "Inputs")]
    assert row.reads == 8 and row.energy == 2 * 10.0  # ceil(8/4) blocks
    assert s.mac_energy == 18 * 0.5
