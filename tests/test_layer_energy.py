"""``LayerEnergy``'s count table: records and the pandas DataFrame give the same figures, the DataFrame is built
only when asked for, and once built it is what the figures come from."""

import math
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from energysim.analysis.estimate import estimate
from energysim.model.layer_energy import COUNT_COLUMNS, LayerEnergy
from energysim.workload import trace_model

LEVELS = ["DRAM", "GLB", "RF"]
SPACES = ["Weights", "Inputs", "Outputs"]

rec = st.tuples(st.sampled_from(LEVELS), st.sampled_from(SPACES), st.integers(0, 10**9), st.integers(0, 10**9),
                st.integers(0, 10**9), st.floats(0, 1e12, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(rec, max_size=12))
def test_records_and_dataframe_agree(rows):
    a = LayerEnergy("l", "conv", 1, rows, 2.0, 10, 0.5, {"leakage": 1.5})
    b = LayerEnergy("l", "conv", 1, pd.DataFrame(rows, columns=COUNT_COLUMNS), 2.0, 10, 0.5, {"leakage": 1.5})
    assert a.to_dict() == b.to_dict()
    assert a.row() == b.row()
    assert a.records == b.records
    # sums are correctly rounded, grouped in order of first appearance
    by_level: dict = {}
    for r in rows:
        by_level.setdefault(r[0], []).append(r[5])
    assert a.energy_by_level == {k: math.fsum(v) for k, v in by_level.items()}
    assert list(a.energy_by_level) == list(dict.fromkeys(r[0] for r in rows))
    assert a.memory_energy == math.fsum(r[5] for r in rows)
    assert a.energy == a.memory_energy + 2.0 + 1.5


def test_count_columns_hold_one_type_like_a_dataframe():
    # a float anywhere in a column makes the whole column float, as in pandas (JSON must not mix 1 and 1.0)
    le = LayerEnergy("l", "conv", 1, [("DRAM", "Inputs", 1, 2, 0, 1.0), ("GLB", "Inputs", 2.5, 0, 0, 2)], 0, 0, 0)
    reads = [c["reads"] for c in le.to_dict()["counts"]]
    assert reads == [1.0, 2.5] and all(type(x) is float for x in reads)
    assert [type(c["fills"]) for c in le.to_dict()["counts"]] == [int, int]
    assert le.to_dict()["counts"] == le.counts.to_dict(orient="records")


def test_dataframe_built_once_and_then_authoritative():
    le = LayerEnergy("l", "conv", 1, [("DRAM", "Weights", 4, 4, 0, 8.0), ("GLB", "Weights", 8, 4, 0, 2.0)], 1.0,
                     10, 1.0)
    assert le._frame is None  # nothing built yet
    df = le.counts
    assert le.counts is df and list(df.columns) == COUNT_COLUMNS
    df.loc[0, "energy"] = 100.0  # a user edits the table in place: the figures follow
    assert le.memory_energy == 102.0 and le.energy_by_level["DRAM"] == 100.0


def test_bad_counts_rejected():
    with pytest.raises(ValueError, match="lacks columns"):
        LayerEnergy("l", "conv", 1, pd.DataFrame({"level": []}), 0, 0, 0)
    with pytest.raises(ValueError, match="count record"):
        LayerEnergy("l", "conv", 1, [("DRAM", "Weights", 1)], 0, 0, 0)


def test_report_tables_equal_records():
    rep = estimate(trace_model("lenet5"), "eyeriss-65nm")
    long = rep.counts()
    assert len(long) == sum(len(l.records) for l in rep.layers)
    for l in rep.layers:
        sub = long[long["layer"] == l.name][COUNT_COLUMNS]
        assert [tuple(r) for r in sub.itertuples(index=False, name=None)] == l.records
    assert math.isclose(rep.table["energy"].sum(), rep.total_energy, rel_tol=1e-12)


def test_estimate_json_imports_no_pandas():
    code = ("import sys\nfrom energysim.cli import main\nsys.stdout = open('/dev/null', 'w')\n"
            "main(['estimate', 'lenet5', '--dataflow', 'rs-template', '--json'])\n"
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules), file=sys.__stdout__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_global_buffer_covers_the_parts_of_a_split_buffer():
    from energysim.arch import load_profile
    from energysim.model.layer_energy import global_buffer_levels

    chip = load_profile("eyeriss-chip")
    assert chip.stacked_above(chip.level_index("GLB_filters")) == [chip.level_index("GLB")]
    assert chip.stacked_above(chip.level_index("GLB")) == []  # DRAM is not a buffer part
    assert chip.stacked_above(chip.level_index("filter_spad")) == []  # 168 instances: not one buffer
    assert global_buffer_levels(chip) == ["GLB", "GLB_filters"]
    assert global_buffer_levels(load_profile("eyeriss-65nm")) == ["GLB"]
    assert global_buffer_levels(load_profile("eyeriss-32nm")) == ["shared_glb"]  # a dummy level ends the buffer
