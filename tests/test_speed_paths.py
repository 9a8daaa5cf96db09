"""The fast paths of issue 19 give what the slow ones gave: the ONNX wire reader against the onnx package, meta
shape propagation against a module with real weights, the torch-free model list, the parallel search."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import energysim
from energysim.arch import load_profile
from energysim.mapping.search import SearchCache, search, search_all
from energysim.model.problem import Problem
from energysim.workload.onnx import wire


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_wire_reader_matches_the_onnx_package(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "f32"),
             numpy_helper.from_array(np.array([-3, 0, 2**40], dtype=np.int64), "i64"),
             numpy_helper.from_array(np.array([1.5, -2.25], dtype=np.float16), "f16"),
             numpy_helper.from_array(np.array([True, False]), "b"),
             helper.make_tensor("typed_f", TensorProto.FLOAT, [2], [0.5, -1.0]),  # float_data, not raw
             helper.make_tensor("typed_i", TensorProto.INT64, [3], [7, -8, 9]),
             helper.make_tensor("typed_i8", TensorProto.INT8, [2], [-5, 6])]
    node = helper.make_node("MyOp", ["x", "f32"], ["y"], name="n", i=-4, f=0.25, s="text", ints=[1, -2, 3],
                            floats=[0.5, 1.5], strings=["a", "b"],
                            t=numpy_helper.from_array(np.array([4, 5], dtype=np.int64), "tt"))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    light = wire.Model(path.read_bytes())
    ref = onnx.load(str(path))
    assert light.graph.name == ref.graph.name == "g"
    for a, b in zip(light.graph.initializer, ref.graph.initializer):
        x, y = a.to_array(), numpy_helper.to_array(b)
        assert a.name == b.name and x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), a.name
    (n,), (m,) = light.graph.node, ref.graph.node
    assert (n.name, n.op_type, n.input, n.output) == (m.name, m.op_type, list(m.input), list(m.output))
    for a, b in zip(n.attribute, m.attribute):
        want = helper.get_attribute_value(b)
        got = a.value
        if a.name == "t":
            got, want = got.to_array(), numpy_helper.to_array(want)
            assert np.array_equal(got, want)
        else:
            assert got == want, a.name
    (vi,) = light.graph.input
    dims = [(d.HasField("dim_value"), d.dim_value, d.dim_param) for d in vi.type.tensor_type.shape.dim]
    assert dims == [(False, 0, "N"), (True, 3, ""), (True, 5, "")]
    assert not light.graph.output[0].type.tensor_type.HasField("shape")
    with pytest.raises(wire.WireError):
        wire.Model(path.read_bytes()[:-7])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_file_is_read_without_importing_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "lenet.onnx"
    with torch.no_grad():
        torch.onnx.export(energysim.zoo.build("lenet5"), torch.zeros(1, 1, 28, 28), str(path), dynamo=False,
                          input_names=["x"])
    out = _run(f"import sys, energysim; net = energysim.from_onnx({str(path)!r}); "
               "print(net.macs, 'onnx' in sys.modules)")
    assert out == f"{energysim.trace_model('lenet5').macs} False"
    assert energysim.from_onnx(onnx.load(str(path))).macs == energysim.trace_model("lenet5").macs


def test_meta_tracing_keeps_real_weights_untouched():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                      nn.Conv2d(8, 4, 3, stride=2), nn.AdaptiveAvgPool2d((2, None)), nn.Flatten(), nn.Linear(4 * 2 * 2, 5))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    params = [p for p in m.parameters()]
    net = energysim.trace(m, (2, 3, 11, 11))
    assert all(p.device.type == "cpu" for p in m.parameters()) and params == list(m.parameters())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    with torch.no_grad():  # every layer's output shape is what the module computes
        shapes, x = [], torch.randn(2, 3, 11, 11)
        for mod in m:
            x = mod(x)
            shapes.append(tuple(x.shape))
    assert [l.output_shape for l in net][-1] == shapes[-1]
    assert net["4"].output_shape == shapes[4] and net["3"].output_shape == shapes[3]


def test_light_commands_and_cnn_tracing_import_little():
    out = _run("import sys\nfrom energysim.cli import main\nsys.stdout = open('/dev/null', 'w')\n"
               "main(['models']); main(['profiles'])\n"
               "print(sorted(m for m in ('torch', 'onnx', 'matplotlib', 'numba') if m in sys.modules), "
               "file=sys.__stdout__)")
    assert out == "[]"
    code = ("import sys, energysim\nenergysim.trace_model('resnet18', snapshot=False)\n"
            "print(sorted(m for m in ('torch._dynamo', 'sympy', 'matplotlib') if m in sys.modules))")
    assert _run(code) == "[]"


def test_search_all_in_a_pool_equals_one_by_one():
    prof = load_profile("eyeriss-65nm")
    layers = [energysim.Layer(name=f"l{i}", kind="conv", op="Conv2d", N=1, M=m, C=c, P=6, Q=6, R=3, S=3, H=8, W=8)
              for i, (m, c) in enumerate([(16, 8), (8, 4), (16, 8), (32, 16)])]
    problems = [Problem.from_layer(l) for l in layers]
    got = search_all(problems, prof, "ws-search", workers=2, cache=SearchCache())
    assert got[0] is got[2]  # one search per distinct shape
    for p, r in zip(problems, got):
        want = search(p, prof, "ws", cache=False)
        assert (r.value, r.mapping) == (want.value, want.mapping)


def test_memos_across_capacities_give_what_a_cold_search_gives(monkeypatch):
    # the designs of a sweep that differ only in buffer sizes share the counting engine's memo, the verified
    # candidates and the search's bounds (none depends on a capacity); each answer is what a cold process gives
    from energysim.analysis.sweep import Design, make_profile
    from energysim.mapping.search import clear_cache
    from energysim.model import counts
    from energysim.model.counts import evaluate

    base = load_profile("eyeriss-65nm")
    profs = [make_profile(base, Design(glb_kb=kb, rf_words=rf)) for kb in (108, 16) for rf in (260, 64)]
    assert len({p.levels_key() for p in profs}) == 1
    assert make_profile(base, Design(bits=8)).levels_key() != profs[0].levels_key()
    problems = [Problem.from_layer(energysim.Layer(name=f"c{m}", kind="conv", op="Conv2d", N=1, M=m, C=32, P=14,
                                                   Q=14, R=3, S=3, H=16, W=16)) for m in (32, 64)]
    warm, counted = [], []
    real = counts._evaluate
    monkeypatch.setattr(counts, "_evaluate", lambda *a: counted.append(a) or real(*a))
    clear_cache()
    for prof in profs:
        for p in problems:
            warm.append(search(p, prof, "ws", cache=False))
    # each search counts its best mapping and its template's: the later designs found theirs counted already
    assert len(counted) < 2 * len(warm)
    for (prof, p), got in zip([(pr, p) for pr in profs for p in problems], warm):
        clear_cache()
        cold = search(p, prof, "ws", cache=False)
        assert (got.value, got.mapping, got.stats) == (cold.value, cold.mapping, cold.stats)
    # a memo hit still checks this profile's capacities, and what a caller changes stays its own
    m = warm[0].mapping
    s1 = evaluate(problems[0], profs[0], m)
    s1.rows[0]["reads"] = -1
    s1.extra["utilized_instances"]["GLB"] = -1
    assert evaluate(problems[0], profs[0], m) == warm[0].stats
    tiny = make_profile(base, Design(glb_kb=0.5))
    assert tiny.levels_key() == profs[0].levels_key()
    with pytest.raises(energysim.EnergySimError, match="exceed"):
        evaluate(problems[0], tiny, m)


def test_template_replays_equal_fresh_runs():
    # a template run is replayed on a profile with the same levels whose capacities answer every one of its
    # capacity tests alike: the mapping must be the one a fresh run makes, on every design of a small grid
    from energysim.analysis.sweep import make_grid, make_profile
    from energysim.mapping import templates
    from energysim.mapping.templates import map_problem
    from energysim.model.memo import clear_all

    base = load_profile("eyeriss-65nm")
    designs = make_grid("12x14", "8,16,32,64,108", "32,64,130,260,520", "16")
    problems = [Problem.from_layer(energysim.Layer(name="c", kind="conv", op="Conv2d", N=2, M=m, C=c, P=p, Q=p, R=3,
                                                   S=3, H=p + 2, W=p + 2)) for m, c, p in [(64, 32, 28), (128, 64, 14)]]
    for flow in ("ws", "rs", "os"):
        clear_all()
        replayed = [map_problem(p, make_profile(base, d), flow) for d in designs for p in problems]
        assert sum(len(v) for v in templates._REPLAYS.values()) < len(replayed)  # some were replays
        for (d, p), got in zip([(d, p) for d in designs for p in problems], replayed):
            clear_all()
            assert got == map_problem(p, make_profile(base, d), flow), (flow, d)
    # an unbounded global buffer is not the same set of tests as a bounded one
    clear_all()
    data = base.model_dump(by_alias=True, exclude_none=True)
    data["levels"][1].pop("depth")
    data["levels"][1].pop("capacity_split")
    unbounded = energysim.HardwareProfile.from_dict(data)
    a = map_problem(problems[0], base, "ws")
    b = map_problem(problems[0], unbounded, "ws")
    clear_all()
    assert (a, b) == (map_problem(problems[0], base, "ws"), map_problem(problems[0], unbounded, "ws"))


def test_search_replays_equal_fresh_searches(monkeypatch):
    # a search is replayed on a profile with the same levels whose capacities answer every capacity test it made
    # alike (``replay``): the result must be the one a fresh search gives, on every design of a small grid, for
    # the free and a constrained search, and the grid must have had replays
    from energysim.analysis.sweep import make_grid, make_profile
    from energysim.mapping.search import replay
    from energysim.model.memo import clear_all

    base = load_profile("eyeriss-65nm")
    designs = make_grid("12x14", "16,108,432", "64,260,1040", "16")
    problems = [Problem.from_layer(energysim.Layer(name="c", kind="conv", op="Conv2d", N=1, M=m, C=c, P=p, Q=p, R=3,
                                                   S=3, H=p + 2, W=p + 2)) for m, c, p in [(64, 32, 28), (128, 64, 7)]]
    monkeypatch.setenv("ENERGYSIM_NUMBA", "1")  # one path throughout (numpy and the kernels count ``evaluated`` apart)
    found = []
    real = replay.find
    monkeypatch.setattr(replay, "find", lambda *a: found.append(real(*a)) or found[-1])
    cases = [(d, p, flow) for flow in ("ws", None) for d in designs for p in problems]
    clear_all()
    warm = [search(p, make_profile(base, d), flow, cache=False) for d, p, flow in cases]
    assert any(f is not None for f in found)
    for (d, p, flow), got in zip(cases, warm):
        clear_all()
        cold = search(p, make_profile(base, d), flow, cache=False)
        assert (got.value, got.mapping, got.stats, got.evaluated, got.source) == \
            (cold.value, cold.mapping, cold.stats, cold.evaluated, cold.source), (d, flow)


def test_a_search_run_replays_only_where_every_test_answers_alike():
    from energysim.analysis.sweep import Design, make_profile
    from energysim.mapping.search.replay import SearchRun

    base = load_profile("eyeriss-65nm")
    names = ("Weights",)
    level = base.level_index("filter_spad")
    cap = base.levels[level].capacity_groups(list(names))[0][1]
    run = SearchRun({(level, names): (cap - 10, cap + 20)}, None, 0, False)
    assert run.answers_alike(base)
    answers = set()
    for words in range(cap - 40, cap + 60, 3):
        prof = make_profile(base, Design(rf_words=words))
        got = prof.levels[level].capacity_groups(list(names))[0][1]
        assert run.answers_alike(prof) == (cap - 10 <= got < cap + 20), words
        answers.add(run.answers_alike(prof))
    assert answers == {True, False}
    data = base.model_dump(by_alias=True, exclude_none=True)
    data["levels"][level].pop("depth")
    assert not run.answers_alike(energysim.HardwareProfile.from_dict(data))  # unbounded: not the same tests


def test_profile_digests_are_held_only_inside_unchanged_profiles():
    from energysim.arch import unchanged_profiles

    prof = load_profile("eyeriss-65nm")
    before = prof.levels_key()
    with unchanged_profiles():
        assert prof.levels_key() == before
        prof.levels[1].read_pj *= 2  # broken promise: the held digest stays
        assert prof.levels_key() == before
        with unchanged_profiles():  # nested: the same values
            assert prof.levels_key() == before
    assert prof.levels_key() != before  # outside, computed anew


def test_options_given_as_dicts_and_lists_are_the_tuples_they_declare():
    # options key the search's memos and cache: given as dicts and lists they must hash, and search alike
    from energysim.mapping.search import MapperOptions

    as_dict = MapperOptions(spatial={"X": ["M"], "Y": ("C",)}, pe_temporal=["R"])
    as_tuples = MapperOptions(spatial=(("X", ("M",)), ("Y", ("C",))), pe_temporal=("R",))
    assert as_dict == as_tuples and hash(as_dict) == hash(as_tuples)
    prof = load_profile("eyeriss-65nm")
    p = Problem.from_layer(energysim.Layer(name="c", kind="conv", op="Conv2d", N=1, M=32, C=16, P=14, Q=14, R=3, S=3,
                                           H=16, W=16))
    a = search(p, prof, None, options=as_dict, cache=False)
    assert a.mapping == search(p, prof, None, options=as_tuples, cache=False).mapping


@pytest.mark.parametrize("kept", [20_000, 1])
def test_remembered_step_pairs_equal_fresh_ones(monkeypatch, kept):
    # the tiling step remembers each distinct remainder's pairs (``Tiler._pairs_compiled``); designs that differ in
    # an inner buffer reuse them. With room for one remainder only, the memory is dropped and refilled as it goes
    from energysim.analysis.sweep import make_grid, make_profile
    from energysim.mapping.search import tiling
    from energysim.model.memo import clear_all

    monkeypatch.setenv("ENERGYSIM_NUMBA", "1")
    monkeypatch.setattr(tiling, "_PAIRS_KEPT", kept)
    tiling.rem_tables.cache_clear()
    base = load_profile("eyeriss-65nm")
    designs = make_grid("12x14", "32,108", "64,130,260,1040", "16")
    p = Problem.from_layer(energysim.Layer(name="c", kind="conv", op="Conv2d", N=1, M=64, C=64, P=28, Q=28, R=3, S=3,
                                           H=30, W=30))
    from energysim.mapping.search import kernels

    asked, computed = [], []
    real_pairs, real_step = tiling.Tiler._pairs_compiled, kernels.step_pairs
    monkeypatch.setattr(tiling.Tiler, "_pairs_compiled", lambda self, k, t, lvl, ukey, *a: asked.append(len(ukey))
                        or real_pairs(self, k, t, lvl, ukey, *a))
    monkeypatch.setattr(kernels, "step_pairs", lambda uleft, *a: computed.append(len(uleft)) or real_step(uleft, *a))
    clear_all()
    with tiling.remembered_pairs():
        warm = [search(p, make_profile(base, d), "ws", cache=False) for d in designs]
    if kept > 1:
        assert sum(computed) < sum(asked)  # some remainders' pairs came from memory
    for d, got in zip(designs, warm):
        clear_all()
        tiling.rem_tables.cache_clear()
        cold = search(p, make_profile(base, d), "ws", cache=False)
        assert (got.value, got.mapping, got.evaluated) == (cold.value, cold.mapping, cold.evaluated), d


def test_warm_byte_compiles_both_packages():
    # the set-up step leaves every module compiled, so that no command compiles sources again (an environment
    # with PYTHONDONTWRITEBYTECODE never writes what it compiled)
    import importlib.util
    import os
    from pathlib import Path

    from dkm.warm import compile_bytecode

    assert compile_bytecode() == (2, [])
    for pkg in (energysim, __import__("dkm")):
        for src in Path(pkg.__file__).parent.rglob("*.py"):
            pyc = Path(importlib.util.cache_from_source(str(src)))
            assert pyc.exists() and os.path.getmtime(pyc) >= os.path.getmtime(src), src
