"""Bad inputs to ``energysim`` (profiles, models, ONNX files, mappings, sparsity options, sweeps, Timeloop case
folders, output folders): each exits 2 with one line naming the field and value, no traceback, and leaves
``--out`` as it was (absent, or the previous run's files). The CLI runs in-process; dkm, artifacts and
interruption are in test_bad_inputs_dkm.py and test_interrupt.py."""

from __future__ import annotations

import copy
import json
import time

import pytest
import yaml

from badinput import expect_error, run, snapshot
from energysim.cli import main

BASE = {
    "name": "tiny", "word_bits": 16, "clock_hz": 1.0e9,
    "levels": [
        {"name": "DRAM", "class": "dram", "block_size": 4, "read_pj": 1280.0, "write_pj": 1280.0},
        {"name": "GLB", "class": "sram", "depth": 65536, "block_size": 4, "read_pj": 10.0, "write_pj": 10.0},
        {"name": "RF", "class": "regfile", "depth": 64, "instances": 16, "mesh_x": 4, "mesh_y": 4,
         "read_pj": 0.25, "write_pj": 0.25},
    ],
    "mac": {"energy_pj": 1.5, "instances": 16, "mesh_x": 4, "mesh_y": 4},
}


def _with(path: str, value):
    def mutate(d):
        node, keys = d, path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        if value is KeyError:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return mutate


PROFILES = [  # (id, mutation of BASE or raw file text, words the one line must hold)
    ("inf-energy", _with("levels.0.read_pj", float("inf")), ["levels[0] (name 'DRAM').read_pj = inf", "finite"]),
    ("nan-energy", _with("levels.1.write_pj", float("nan")), ["GLB", "write_pj = nan"]),
    ("inf-clock", _with("clock_hz", float("inf")), ["clock_hz = inf"]),
    ("bool-depth", _with("levels.1.depth", True), ["depth = True", "boolean"]),
    ("bool-energy", _with("mac.energy_pj", False), ["mac.energy_pj = False", "boolean"]),
    ("negative-depth", _with("levels.1.depth", -3), ["depth = -3"]),
    ("fractional-depth", _with("levels.1.depth", 1.5), ["depth = 1.5"]),
    ("huge-depth", _with("levels.1.depth", 10**30), ["depth", "less than or equal"]),
    ("huge-energy", _with("levels.2.read_pj", 1e300), ["RF", "read_pj = 1e+300"]),
    ("zero-clock", _with("clock_hz", 0), ["clock_hz = 0"]),
    ("unknown-field", _with("levels.1.colour", "red"), ["levels[1] (name 'GLB').colour", "unknown field"]),
    ("missing-mac", _with("mac", KeyError), ["mac: missing required field"]),
    ("missing-energy", _with("levels.1.read_pj", KeyError), ["GLB", "read_pj"]),
    ("mesh-mismatch", _with("levels.2.mesh_x", 3), ["RF", "mesh_x"]),
    ("duplicate-level", _with("levels.1.name", "DRAM"), ["duplicate level name", "DRAM"]),
    ("unknown-dataspace", _with("levels.1.keeps", ["Weights", "Psums"]), ["keeps", "Psums"]),
    ("negative-mac", _with("mac.energy_pj", -1), ["mac.energy_pj = -1"]),
    ("string-depth", _with("levels.1.depth", "lots"), ["depth = 'lots'"]),
    ("long-value", _with("levels.1.depth", "x" * 100_000), ["depth = 'xxx", "..."]),
    ("not-yaml", "levels: [ {name: DRAM\n", ["not valid YAML"]),
    ("top-level-list", "- a\n- b\n", ["expected a mapping", "list"]),
    ("not-utf8", b"\xff\xfe\x00garbage", ["not UTF-8"]),
]


def _write_profile(tmp_path, spec) -> str:
    path = tmp_path / "profile.yaml"
    if isinstance(spec, (str, bytes)):
        path.write_bytes(spec.encode() if isinstance(spec, str) else spec)
    else:
        d = copy.deepcopy(BASE)
        spec(d)
        path.write_text(yaml.safe_dump(d))
    return str(path)


@pytest.mark.parametrize("spec,needles", [p[1:] for p in PROFILES], ids=[p[0] for p in PROFILES])
def test_bad_profile(tmp_path, capsys, spec, needles):
    out = tmp_path / "out"
    expect_error(main, ["estimate", "lenet5", "--profile", _write_profile(tmp_path, spec), "--out", out], capsys,
                 *needles, out=out, before=None)


def test_good_profile_passes(tmp_path, capsys):  # the base of the cases above is valid
    rc, stdout, err = run(main, ["estimate", "lenet5", "--profile", _write_profile(tmp_path, lambda d: d)], capsys)
    assert rc == 0 and "lenet5 on tiny" in stdout and err == ""


@pytest.mark.parametrize("argv,needles", [
    (["--profile", "no-such-profile"], ["unknown hardware profile 'no-such-profile'"]),
    (["--profile", "missing.yaml"], ["cannot read hardware profile 'missing.yaml'"]),
    (["--profile", "/"], ["hardware profile '/'"]),
], ids=["unknown-name", "missing-file", "a-folder"])
def test_profile_paths(tmp_path, capsys, argv, needles):
    out = tmp_path / "out"
    expect_error(main, ["estimate", "lenet5", *argv, "--out", out], capsys, *needles, out=out, before=None)


def test_large_profile_is_refused_at_once(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ndescription: " + "x" * (3 * 2**20) + "\n")
    t0 = time.perf_counter()
    expect_error(main, ["estimate", "lenet5", "--profile", big], capsys, "3,145,", "bytes", "at most")
    assert time.perf_counter() - t0 < 5


MODELS = [  # (argv, words of the one line)
    (["estimate", "no_such_model"], ["unknown model 'no_such_model'"]),
    (["layers", "no_such_model"], ["unknown model 'no_such_model'"]),
    (["estimate", "weights.pt"], ["unknown model 'weights.pt'"]),
    (["estimate"], ["MODEL"]),
    (["estimate", "lenet5", "--batch", "0"], ["--batch", "'0' must be >= 1"]),
    (["estimate", "lenet5", "--batch", "-4"], ["--batch", "'-4' must be >= 1"]),
    (["estimate", "lenet5", "--batch", "two"], ["--batch", "'two' is not an integer"]),
    (["estimate", "lenet5", "--batch", "1.5"], ["--batch", "'1.5'"]),
    (["estimate", "lenet5", "--batch", str(2**40)], ["--batch", "must be <= 2,147,483,647"]),
    (["estimate", "lenet5", "--batch", "1000000000", "--dataflow", "search"], ["--batch 1000000000", "4096"]),
    (["layers", "lenet5", "--batch", "0"], ["--batch"]),
    (["estimate", "lenet5", "--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
    (["no-such-command"], ["invalid choice: 'no-such-command'"]),
]


@pytest.mark.parametrize("argv,needles", MODELS, ids=[" ".join(a[:1] + a[2:3] + a[3:4]) or "none" for a, _ in MODELS])
def test_bad_model_or_batch(tmp_path, capsys, argv, needles):
    out = tmp_path / "out"
    extra = ["--out", out] if argv[0] == "estimate" and len(argv) > 1 else []
    expect_error(main, argv + extra, capsys, *needles, out=out, before=None)


def test_huge_batch_with_a_template_is_fast(capsys):
    # the template tiler factors loop bounds (no trial division up to the bound): seconds, not hours
    t0 = time.perf_counter()
    rc, stdout, _ = run(main, ["estimate", "lenet5", "--batch", "1000000000", "--dataflow", "rs-template", "--json"],
                        capsys)
    assert rc == 0 and json.loads(stdout)["total_macs"] == 2_293_000 * 10**9
    assert time.perf_counter() - t0 < 60
    # the default (rs: the row-stationary search) does not take such a batch and says which name does
    expect_error(main, ["estimate", "lenet5", "--batch", "1000000000"], capsys, "--batch 1000000000", "4096",
                 "rs-template", before=None)


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    d = tmp_path_factory.mktemp("onnx")

    def model(extra=None, wshape=(4, 1, 3, 3)):
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                 helper.make_node("Relu", ["c"], ["r"], name="relu")]
        if extra:
            nodes.append(helper.make_node(extra, ["r"], ["e"], name="odd"))
        nodes.append(helper.make_node("Identity", ["e" if extra else "r"], ["y"]))
        g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.zeros(wshape, np.float32), "w")])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    onnx.save(model(), str(d / "ok.onnx"))
    onnx.save(model("Sin"), str(d / "odd.onnx"))
    onnx.save(model(wshape=(4, 3, 3, 3)), str(d / "badshape.onnx"))
    raw = (d / "ok.onnx").read_bytes()
    (d / "trunc.onnx").write_bytes(raw[: len(raw) // 2])
    (d / "empty.onnx").write_bytes(b"")
    (d / "text.onnx").write_text("not an onnx file")
    return d


@pytest.mark.parametrize("name,needles", [
    ("odd", ["node 'odd' (Sin)", "unsupported op Sin", "--lenient"]),
    ("badshape", ["node 'conv'", "(4, 3, 3, 3)", "1 input channels"]),
    ("trunc", ["trunc.onnx", "not a readable ONNX model"]),
    ("empty", ["empty.onnx", "not an ONNX model"]),
    ("text", ["text.onnx"]),
    ("missing", ["missing.onnx", "not found"]),
])
def test_bad_onnx(onnx_files, tmp_path, capsys, name, needles):
    out = tmp_path / "out"
    expect_error(main, ["estimate", onnx_files / f"{name}.onnx", "--out", out], capsys, *needles, out=out,
                 before=None)


def test_lenient_keeps_unsupported_ops_and_says_so(onnx_files, capsys):
    rc, stdout, err = run(main, ["layers", onnx_files / "odd.onnx", "--lenient", "--json"], capsys)
    assert rc == 0 and "unsupported" in [r["kind"] for r in json.loads(stdout)["layers"]]
    rc, stdout, err = run(main, ["estimate", onnx_files / "odd.onnx", "--lenient"], capsys)
    assert rc == 0 and "not counted: 1 unsupported layer(s): odd" in stdout
    assert err.strip() == "energysim: warning: not counted: 1 unsupported layer(s) (odd)"
    rc, stdout, _ = run(main, ["estimate", onnx_files / "odd.onnx", "--lenient", "--json"], capsys)
    assert json.loads(stdout)["skipped_layers"] == ["odd"]


@pytest.mark.parametrize("argv,needles", [
    (["estimate", "lenet5", "--dataflow", "zz"], ["--dataflow: invalid choice: 'zz'"]),
    (["estimate", "lenet5", "--dataflow", "RS"], ["--dataflow: invalid choice: 'RS'"]),
    (["sweep", "lenet5", "--dataflow", "rowstationary"], ["--dataflow: invalid choice"]),
    (["estimate", "lenet5", "--profile", "UNMAPPABLE", "--dataflow", "rs-template"], ["cannot be mapped", "rs-template"]),
    (["estimate", "lenet5", "--profile", "UNMAPPABLE"], ["no mapping of 'conv1' fits profile 'tiny'", "dataflow rs"]),
    (["estimate", "lenet5", "--profile", "UNMAPPABLE", "--dataflow", "search"], ["no mapping of 'conv1' fits profile 'tiny'"]),
], ids=["unknown", "wrong-case", "sweep", "no-fit-rs-template", "no-fit-rs", "no-fit-search"])
def test_bad_mapping(tmp_path, capsys, argv, needles):
    if "UNMAPPABLE" in argv:  # buffers that must keep all three operands but hold one word each
        def tiny(d):
            d["levels"][1]["depth"] = d["levels"][2]["depth"] = 1
        argv[argv.index("UNMAPPABLE")] = _write_profile(tmp_path, tiny)
    out = tmp_path / "out"
    expect_error(main, argv + ["--out", out], capsys, *needles, out=out, before=None)


SPARSITY = [  # (extra estimate flags, file contents for FILE, words of the one line)
    (["--default-density", "1.5"], None, ["--default-density", "'1.5' must be <= 1"]),
    (["--default-density", "-0.1"], None, ["--default-density", "'-0.1' must be >= 0"]),
    (["--default-density", "nan"], None, ["--default-density", "'nan' is not a finite number"]),
    (["--default-density", "inf"], None, ["--default-density", "'inf' is not a finite number"]),
    (["--densities", "FILE"], "{not json", ["--densities", "not valid JSON"]),
    (["--densities", "FILE"], '{"conv1": NaN}', ["--densities", "NaN is not a JSON number"]),
    (["--densities", "FILE"], '{"conv1": Infinity}', ["--densities", "Infinity is not a JSON number"]),
    (["--densities", "FILE"], '{"conv1": 1e999}', ["--densities", "1e999 is out of range"]),
    (["--densities", "FILE"], "[0.5, 0.5]", ["--densities", "expected a JSON object", "list"]),
    (["--densities", "FILE"], '{"conv9": 0.5}', ["conv9", "not in network 'lenet5'"]),
    (["--densities", "FILE"], '{"conv1": 2.0}', ["conv1", "2.0"]),
    (["--densities", "FILE"], '{"conv1": {"psums": 0.5}}', ["conv1", "psums"]),
    (["--densities", "FILE"], b"\xff\xfe", ["--densities", "not UTF-8"]),
    (["--densities", "missing.json"], None, ["--densities 'missing.json': no such file"]),
    (["--bits", "w=0"], None, ["bit width", "0"]),
    (["--bits", "q=8"], None, ["bit-width key", "'q'"]),
    (["--bits", "eight"], None, ["bit widths 'eight'", "key=value"]),
    (["--rlc", "NoSuchLevel"], None, ["no level 'NoSuchLevel'"]),
    (["--seed", "-1", "--measure-densities"], None, ["--seed", "'-1' must be >= 0"]),
]


@pytest.mark.parametrize("extra,content,needles", SPARSITY, ids=[f"{s[0][0]}-{i}" for i, s in enumerate(SPARSITY)])
def test_bad_sparsity_option(tmp_path, capsys, extra, content, needles):
    if content is not None:
        f = tmp_path / "densities.json"
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        extra = [str(f) if a == "FILE" else a for a in extra]
    out = tmp_path / "out"
    expect_error(main, ["estimate", "lenet5", *extra, "--out", out], capsys, *needles, out=out, before=None)


def test_large_densities_file_is_refused(tmp_path, capsys, monkeypatch):
    import energysim.cli.common as common

    monkeypatch.setattr(common, "MAX_JSON_BYTES", 100)
    f = tmp_path / "d.json"
    f.write_text(json.dumps({f"layer{i}": 0.5 for i in range(50)}))
    expect_error(main, ["estimate", "lenet5", "--densities", f], capsys, "--densities", "bytes; at most 100")


SWEEPS = [  # (sweep flags, words of the one line)
    (["--pe", "0x4"], ["PE array '0x4'", ">= 1"]),
    (["--pe", "12by14"], ["PE array '12by14'", "ROWSxCOLS"]),
    (["--pe", ""], ["--pe is empty"]),
    (["--glb-kb", "-5,10"], ["--glb-kb value '-5' must be > 0"]),
    (["--glb-kb", "nan"], ["--glb-kb value 'nan' is not a finite number"]),
    (["--glb-kb", "inf"], ["--glb-kb value 'inf' is not a finite number"]),
    (["--rf-words", "0"], ["--rf-words value '0' must be >= 1"]),
    (["--rf-words", "2,300"], ["design rf2", "rf_words = 2"]),
    (["--bits", "0"], ["--bits value '0' must be >= 1"]),
    (["--bits", "8.5"], ["--bits value '8.5' is not an integer"]),
    (["--workers", "0"], ["--workers", "'0' must be >= 1"]),
    (["--dask", "notanaddress"], ["--dask 'notanaddress'", "tcp://HOST:8786"]),
    (["--max-energy", "nan"], ["--max-energy", "'nan' is not a finite number"]),
    (["--max-cycles", "-1"], ["--max-cycles", "'-1' must be >= 0"]),
    (["--objective", "speed"], ["--objective: invalid choice: 'speed'"]),
    (["--batch", "5000"], ["--batch 5000", "4096"]),
    (["--profile", "no-such-profile"], ["unknown hardware profile"]),
]


@pytest.mark.parametrize("extra,needles", SWEEPS, ids=[f"{e[0]}={e[1]}" for e, _ in SWEEPS])
def test_bad_sweep(tmp_path, capsys, extra, needles):
    out = tmp_path / "out"
    out.mkdir()
    (out / "designs.csv").write_text("previous run\n")
    before = snapshot(out)
    expect_error(main, ["sweep", "digits_cnn", *extra, "--out", out], capsys, *needles, out=out, before=before)


def _case(tmp_path, what):
    d = tmp_path / "case"
    if what == "file":
        d.write_text("x")
        return d
    d.mkdir()
    if what == "garbage":
        (d / "parsed-processed-input.yaml").write_text(": : :\n")
    return d


@pytest.mark.parametrize("what,extra,needles", [
    ("missing", [], ["timeloop case", "not a directory"]),
    ("file", [], ["timeloop case", "not a directory"]),
    ("empty", [], ["no parsed-processed-input.yaml"]),
    ("garbage", [], ["parsed-processed-input.yaml", "not valid YAML"]),
    ("empty", ["--energy-rtol", "-1"], ["'-1'", ">= 0"]),
    ("empty", ["--energy-rtol", "nan"], ["'nan'", "finite"]),
])
def test_bad_timeloop_case(tmp_path, capsys, what, extra, needles):
    case = tmp_path / "missing" if what == "missing" else _case(tmp_path, what)
    expect_error(main, ["timeloop", "check", case, *extra], capsys, *needles)


@pytest.mark.parametrize("cmd", [["estimate", "lenet5"], ["sweep", "lenet5", "--pe", "4x4"]])
@pytest.mark.parametrize("where", ["a-file", "under-a-file"])
def test_out_that_cannot_be_a_folder(tmp_path, capsys, cmd, where):
    f = tmp_path / "taken"
    f.write_text("keep me")
    out = f if where == "a-file" else f / "sub"
    expect_error(main, [*cmd, "--out", out], capsys, "--out", str(out), out=f, before={"": b"keep me"})
