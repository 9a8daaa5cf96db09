"""Problem: projections, tile sizes, CNN layers and Timeloop problem specs."""

import pytest
import yaml

from energysim.interop.timeloop import problem_from_timeloop
from energysim.errors import EnergySimError
from energysim.model.problem import DataSpace, Problem
from energysim.workload import Layer
from shared_paths import TIMELOOP  # noqa: E402

CASES = str(TIMELOOP)


def test_from_layer_dense_conv():
    layer = Layer(name="c", kind="conv", op="Conv2d", N=2, M=8, C=4, P=5, Q=6, R=3, S=3, H=7, W=8)
    p = Problem.from_layer(layer)
    assert p.macs == layer.macs == 2 * 8 * 4 * 5 * 6 * 9
    assert p.tensor_size("Weights") == layer.weight_count
    assert p.tensor_size("Outputs") == layer.output_count
    assert p.tensor_size("Inputs") == 2 * 4 * 7 * 8  # (P-1)+(R-1)+1 = 7 rows, 8 columns
    assert p.output.name == "Outputs"


def test_from_layer_strided_and_depthwise():
    layer = Layer(name="dw", kind="depthwise", op="Conv2d", C=16, M=16, groups=16, P=7, Q=7, R=3, S=3,
                  stride_h=2, stride_w=2, H=15, W=15)
    p = Problem.from_layer(layer)
    assert "G" in p.dims and p.bounds["G"] == 16 and p.bounds["C"] == 1 and p.bounds["M"] == 1
    assert p.macs == layer.macs == 16 * 49 * 9
    assert p.tensor_size("Inputs") == 16 * 15 * 15
    assert p.tensor_size("Weights") == layer.weight_count


def test_from_layer_linear_and_non_mac():
    fc = Layer(name="fc", kind="linear", op="Linear", N=4, M=10, C=32)
    p = Problem.from_layer(fc)
    assert p.macs == 4 * 10 * 32 and p.tensor_size("Inputs") == 4 * 32
    with pytest.raises(EnergySimError, match="no MACs"):
        Problem.from_layer(Layer(name="pool", kind="pool", op="MaxPool2d", M=4, C=4))


def test_tile_size_is_a_box():
    ds = DataSpace("Inputs", ((("R", 1), ("P", 2)),))
    assert ds.tile_size({"R": 3, "P": 4}) == 2 + 6 + 1
    assert ds.dims == {"R", "P"}


@pytest.mark.parametrize("case", ["ispass00_conv1d_1level", "ispass04_conv1d_oc_ic_spatial_cp",
                                  "ispass06_eyeriss_vgg02_layer5_32nm"])
def test_from_timeloop_matches_printed_sizes(case):
    import json

    spec = yaml.safe_load(open(f"{CASES}/{case}/parsed-processed-input.yaml"))
    ref = json.load(open(f"{CASES}/{case}/case.json"))["workload"]
    p = problem_from_timeloop(spec)
    assert p.macs == ref["product_of_dimension_bounds"]
    for name, size in ref["tensor_sizes_printed_at_outermost_level"].items():
        assert p.tensor_size(name) == size


def test_bad_problem_errors_name_the_field():
    with pytest.raises(EnergySimError, match="bound of dimension P = 0"):
        Problem("x", ("P",), {"P": 0}, ())
    with pytest.raises(EnergySimError, match="unknown dimension 'Z'"):
        Problem("x", ("P",), {"P": 2}, (DataSpace("O", ((("Z", 1),),), True),))
    with pytest.raises(EnergySimError, match="unknown coefficient 'Foo'"):
        problem_from_timeloop({"shape": {"dimensions": ["P", "R"], "data_spaces": [
            {"name": "I", "projection": [[["P", "Foo"], ["R"]]]}]}, "instance": {"P": 2, "R": 2}})
