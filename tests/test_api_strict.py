"""The Python API refuses bad input with one clear error naming the field and value, and never reads it as
something else: layers, einsum shapes, problems, mappings, mapper options and networks."""

from __future__ import annotations

import math

import pytest

from energysim import EnergySimError, Layer, Network, load_profile
from energysim.mapping.search import MapperOptions, parse_dataflow
from energysim.model.mapping import LevelMapping, Mapping
from energysim.model.problem import DataSpace, Problem
from energysim.model.counts import evaluate
from energysim.workload.einsum import attention_shapes, einsum_shape, matmul_shape

CONV = dict(name="c", kind="conv", op="Conv2d")


# ---- Layer ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["N", "M", "C", "P", "R", "stride_h", "dilation_w", "pad_h", "groups", "H"])
@pytest.mark.parametrize("value", [True, 2.0, 2.5, math.nan, math.inf, "3", 2**41])
def test_layer_sizes_are_integers_never_coerced(field, value):
    with pytest.raises(ValueError, match=rf"(?m)^{field}$"):  # pydantic names the field on its own line
        Layer(**CONV, **{field: value})


@pytest.mark.parametrize("kw, needle", [
    (dict(input_shapes=((1, -3),)), "input_shapes"),
    (dict(input_shapes=((1, 2.0),)), "input_shapes"),
    (dict(output_shape=(1, True)), "output_shape"),
    (dict(bias="yes"), "bias"),
    (dict(bias=1), "bias"),
    (dict(groups=2, C=4, M=4), "kind='conv' with groups=2"),
    (dict(kind="grouped", groups=1), "kind='grouped' with groups=1"),
    (dict(kind="depthwise", groups=1, C=4, M=4), "groups == C == M"),
])
def test_layer_refuses_what_it_would_misread(kw, needle):
    with pytest.raises(ValueError, match=needle):
        Layer(**{**CONV, **kw})


def test_valid_layers_unchanged():
    dw = Layer(name="d", kind="depthwise", op="Conv2d", M=8, C=8, groups=8, input_shapes=((1, 8, 4, 4),))
    assert dw.input_shapes == ((1, 8, 4, 4),) and dw.bias is False
    g = Layer(name="g", kind="grouped", op="Conv2d", M=16, C=8, groups=8, bias=True)  # channel multiplier 2
    assert g.c_per_group == 1 and g.bias is True
    assert Layer.model_validate(g.model_dump(mode="json")) == g


# ---- einsum --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("eq, needle", [
    ("ij,jk->iik", "repeats a letter"),
    ("ij,jk->ii", "repeats a letter"),
    ("ij,jk->iz", r"output letters \['z'\] index no operand"),
])
def test_einsum_output_letters(eq, needle):
    with pytest.raises(EnergySimError, match=needle):
        einsum_shape(eq, (2, 3), (3, 4))


@pytest.mark.parametrize("size", [-2, 0, 2.0, 2.5, True, math.nan, math.inf, "2"])
def test_einsum_and_matmul_sizes(size):
    with pytest.raises(EnergySimError, match="sizes must be integers >= 1"):
        einsum_shape("ij,jk->ik", (size, 3), (3, 4))
    with pytest.raises(EnergySimError, match="sizes must be integers >= 1"):
        matmul_shape((2, 3), (3, size))
    with pytest.raises(EnergySimError, match="sizes must be integers >= 1"):
        attention_shapes((2, size, 8), (2, 5, 8), (2, 5, 8))


@pytest.mark.parametrize("eq", [5, None, b"ij,jk->ik"])
def test_einsum_equation_must_be_a_string(eq):
    with pytest.raises(EnergySimError, match="must be a string"):
        einsum_shape(eq, (2, 3), (3, 4))


def test_einsum_valid_shapes_unchanged():
    s = einsum_shape("bhqd,bhkd->bhqk", (2, 3, 5, 8), (2, 3, 6, 8))
    assert (s.G, s.P, s.M, s.C) == (6, 5, 6, 8)
    assert einsum_shape("ij,ij->", (2, 3), (2, 3)).C == 6


# ---- Problem -------------------------------------------------------------------------------------------
W = DataSpace("W", ((("C", 1),),))


@pytest.mark.parametrize("args, needle", [
    ((("C", "C"), {"C": 3}, (W,)), "distinct"),
    (("CC", {"C": 3}, (W,)), "must be a tuple"),
    ((("C",), [("C", 3)], (W,)), "must be a dict"),
    ((("C",), {"C": 3}, ()), "non-empty tuple of DataSpace"),
    ((("C",), {"C": 3}, ("W",)), "is not a DataSpace"),
    ((("C",), {"C": 3}, (DataSpace("W", ((("C", True),),)),)), "coefficient of C = True"),
    ((("C",), {"C": 3}, (DataSpace("W", (("C", 1),)),)), r"term 'C' must be a \(dimension, coefficient\) pair"),
    ((("C",), {"C": 3}, (DataSpace("W", ()),)), "ranks = \\(\\) must be a non-empty"),
    ((("C",), {"C": 3}, (DataSpace("W", ((),)),)), "rank \\(\\) must be a non-empty"),
    ((("C",), {"C": 3}, (DataSpace("W", ((("C", 1),),), role="wieght"),)), "role = 'wieght'"),
    ((("C",), {"C": 3}, (DataSpace("W", ((("C", 1),),), read_write=1),)), "read_write = 1"),
])
def test_problem_structure(args, needle):
    with pytest.raises(EnergySimError, match=needle):
        Problem("p", *args)


def test_problem_coefficients():
    with pytest.raises(EnergySimError, match="coefficient 'x' = -1"):
        Problem("p", ("C",), {"C": 3}, (W,), coefficients={"x": -1})


# ---- Mapping -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def case():
    prof = load_profile("eyeriss-65nm")
    return Problem.from_layer(Layer(**CONV, M=4, C=2, P=2, H=2)), prof


FULL = dict(M=4, C=2, P=2)


@pytest.mark.parametrize("value", [4.0, True, "4", math.nan, math.inf])
def test_mapping_factors_are_integers_never_coerced(value):
    with pytest.raises(EnergySimError, match="mapping level 'DRAM': temporal.M = .*must be an integer"):
        LevelMapping(level="DRAM", temporal={**FULL, "M": value})
    with pytest.raises(EnergySimError, match="padding.M = .*must be an integer"):
        Mapping(levels=[], padding={"M": value})


def test_mapping_constructor_errors_are_one_line():
    for make in (lambda: LevelMapping(level="DRAM", foo=1), lambda: Mapping(levels=[], foo=1),
                 lambda: LevelMapping(level=3)):
        with pytest.raises(EnergySimError) as e:
            make()
        assert "\n" not in str(e.value) and "pydantic" not in str(e.value)
    with pytest.raises(EnergySimError) as e:
        Mapping.from_dict({"levels": [{"level": "DRAM", "temporal": {"M": "x"}}]}, "m.yaml")
    assert str(e.value) == "m.yaml: levels[0]: mapping level 'DRAM': temporal.M = 'x': must be an integer, got str"


@pytest.mark.parametrize("lm, needle", [
    (dict(spatial_permutation=["Z"]), "spatial_permutation names unknown dimension 'Z'"),
    (dict(spatial_permutation=["M", "M"]), r"spatial_permutation \['M', 'M'\] repeats"),
    (dict(keep=["Weights", "Weights", "Inputs", "Outputs"]), "keep .* repeats a data space"),
])
def test_mapping_names_are_checked(case, lm, needle):
    problem, prof = case
    with pytest.raises(EnergySimError, match=needle):
        evaluate(problem, prof, Mapping(levels=[LevelMapping(level="DRAM", temporal=FULL, **lm)]))


def test_valid_mapping_unchanged(case):
    problem, prof = case
    m = Mapping(levels=[LevelMapping(level="DRAM", temporal=FULL, spatial_permutation=[])])
    assert evaluate(problem, prof, m).energy == 10184.0


# ---- MapperOptions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, needle", [
    (dict(max_spatial_dims=0), "max_spatial_dims = 0"),
    (dict(max_spatial_dims=True), "max_spatial_dims = True"),
    (dict(spatial_candidates=1.5), "spatial_candidates = 1.5"),
    (dict(spatial_candidates=math.inf), "spatial_candidates = inf"),
    (dict(tile_cap=0), "tile_cap = 0"),
    (dict(tile_cap=math.nan), "tile_cap = nan"),
    (dict(max_pairs=-5), "max_pairs = -5"),
    (dict(wide_from=-1), "wide_from = -1"),
    (dict(max_passes=2.5), "max_passes = 2.5"),
    (dict(exhaustive="yes"), "exhaustive = 'yes'"),
    (dict(include_template=0), "include_template = 0"),
    (dict(pad_batch=math.nan), "pad_batch = nan"),
    (dict(pad_batch=5), "pad_batch = 5"),
    (dict(min_pe_fraction=math.inf), "min_pe_fraction = inf"),
    (dict(min_pe_fraction=-1), "min_pe_fraction = -1"),
    (dict(pad={"P": -0.5}), r"pad\[P\] = -0.5"),
    (dict(pad={"P": math.nan}), r"pad\[P\] = nan"),
    (dict(pad=(("P",),)), "pad = .* must map names to values"),
    (dict(spatial={"Z": ("M",)}), "unknown mesh axis"),
    (dict(spatial={"X": "MC"}), r"spatial\[X\] = 'MC' must be a list of names"),
    (dict(spatial={"X": ("M", "M")}), "repeats a name"),
    (dict(spatial=[("X", ["M"]), ("X", ["C"])]), "names a key twice"),
    (dict(spatial_full={"Z": ("R",)}), "unknown mesh axis"),
    (dict(bypass={"GLB": "Inputs"}), r"bypass\[GLB\] = 'Inputs'"),
    (dict(pe_temporal="S"), "pe_temporal = 'S'"),
    (dict(temporal_factors={"GLB": {"M": -1}}), r"temporal_factors\[GLB\]\[M\] = -1"),
    (dict(temporal_factors={"GLB": {"M": True}}), r"temporal_factors\[GLB\]\[M\] = True"),
    (dict(permutations={"GLB": ("M",)}), r"permutations\[GLB\] = \('M',\)"),
])
def test_mapper_options_out_of_range(kw, needle):
    with pytest.raises(EnergySimError, match=needle):
        MapperOptions(**kw)


def test_mapper_options_valid_unchanged():
    o = MapperOptions(spatial={"X": ["M"], "Y": ("C",)}, pe_temporal=["R"], pad={"P": 0.05}, pad_batch=0,
                      min_pe_fraction=1, temporal_factors={"GLB": {"M": 0}}, permutations={"GLB": (["M"], [])})
    assert o.spatial == (("X", ("M",)), ("Y", ("C",))) and o.pad == (("P", 0.05),) and o.pad_batch == 0
    assert MapperOptions.for_profile(load_profile("eyeriss-65nm")) == MapperOptions.for_profile(
        load_profile("eyeriss-65nm"))
    with pytest.raises(EnergySimError, match="search dataflow must be a name"):
        parse_dataflow(3)


# ---- Network -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [None, 3, "abc", (1, -3), (1, 2.5), (True,)])
def test_network_input_shape(shape):
    with pytest.raises(EnergySimError, match="input_shape"):
        Network("n", shape)


@pytest.mark.parametrize("inputs, needle", [
    (["zz"], r"must be a \(source name, shape\) pair"),  # once unpacked as source 'z', shape ('z',)
    ([("b", (1,))], "cannot feed itself"),
    ([("x", (1, -5))], "has size -5"),
    ([("x", None)], "must be a sequence of sizes"),
])
def test_network_add_layer_inputs(inputs, needle):
    with pytest.raises(EnergySimError, match=needle):
        Network("n", (1,)).add_layer(Layer(**{**CONV, "name": "b"}), inputs)


def test_network_layers():
    net = Network("n", (1,))
    net.add_layer(Layer(**CONV))
    with pytest.raises(EnergySimError, match="add_layer takes a Layer"):
        net.add_layer({"name": "a"})
    with pytest.raises(EnergySimError, match="duplicate layer name 'c'"):
        net.add_layer(Layer(**CONV))
    with pytest.raises(EnergySimError, match="no layer named 'zz' to replace"):
        net.replace_layer(Layer(**{**CONV, "name": "zz"}))


def test_network_from_dict():
    net = Network("n", (1, 3))
    net.add_layer(Layer(**CONV), [("x", (1, 3))])
    d = net.to_dict()
    assert Network.from_dict(d).to_dict() == d
    for bad, needle in [({**d, "extra": 1}, "must be a dict with keys"),
                        ({k: v for k, v in d.items() if k != "sources"}, "must be a dict with keys"),
                        ([1], "got list"),
                        ({**d, "edges": [["x"]]}, "must be \\[source, destination, shape\\]"),
                        ({**d, "sources": "ab"}, "sources must map"),
                        ({**d, "layers": [{**CONV, "N": -1}]}, r"layers\[0\]: N = -1")]:
        with pytest.raises(EnergySimError, match=needle) as e:
            Network.from_dict(bad)
        assert "\n" not in str(e.value)
