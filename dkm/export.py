"""Export a ``.dkm`` artifact to ONNX, compressed: each shared layer's weight is computed in the graph from its
codebook and its index tensor, so any ONNX runtime executes the compressed model as stored.

The model is exported by torch's TorchScript-based ONNX exporter (``dynamo=False``: it needs no extra package;
``training=PRESERVE`` so that no batch norm is folded into a shared weight), then every shared layer's weight
initializer ``NAME.weight`` is replaced by a subgraph that produces the same tensor under the same name:

    indices (int64, (N,)) --Gather(codebook (K, s), axis 0)--> (N, s) --Reshape--> weight shape

(with several lookup tables: ``GatherND`` with ``batch_dims = 1`` on the codebooks ``(G, K, s)``). Every
grouping orders a layer's samples as ``weight.reshape(-1, s)``, so one Reshape undoes it. How the indices are
stored, per layer (``indices="auto"`` takes the smallest; all decode to the same int64 indices):

* ``int``: one index per element of the smallest integer type that holds K (uint8, uint16, int32), then
  ``Cast`` to int64: the plainest graph.
* ``packed``: the artifact's fixed-width packing (``ceil(log2 K)`` bits each, MSB first) as a uint8 tensor, unpacked
  in the graph (BitShift, BitwiseAnd, a weighted ReduceSum).
* ``huffman``: the artifact's canonical Huffman bit stream, decoded in the graph in blocks of
  :data:`HUFFMAN_BLOCK` indices: the start bit of every block is stored (uint16 deltas), a ``Loop`` of block-length
  steps decodes all blocks at once, each step looking up the L-bit window at every block's position (the windows
  come from one float ``Conv`` over the bits, exact below 2**24) in the canonical code table built in the graph
  from the code lengths.

Codebooks keep the artifact's dtype (float16 ones are cast to float32 in the graph); every other tensor is the
exported float32 parameter. Opset :data:`OPSET`.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import bitcodes
from .artifact import Artifact, check_out_file, load, parse, write_file
from .errors import DKMError

OPSET = 18
#: Indices per Huffman block: the Loop runs this many steps; the block starts cost 16 bits per block.
HUFFMAN_BLOCK = 512
ENCODINGS = ("auto", "int", "packed", "huffman")
#: Most random inputs ``verify`` runs: they are held in memory at once (and the reference evaluator is slow).
MAX_VERIFY_INPUTS = 10_000
#: Largest output difference, relative to the largest output, that ``verify`` passes: float32 accumulation order
#: differs between runtimes by about 1e-7; a wrong weight or operator gives far more.
VERIFY_RTOL = 1e-4


class ExportMismatch(RuntimeError):
    """The exported ONNX model does not reproduce the ``.dkm`` model (a failure of the export, not a bad input):
    ``report`` is :func:`verify`'s result; nothing was written."""

    def __init__(self, report: dict):
        self.report = report
        super().__init__(f"the ONNX model does not reproduce the .dkm model on {report['inputs']} random inputs: "
                         f"largest difference {report['max_abs_diff']:.3g} ({report['max_rel_diff']:.2g} of the "
                         f"largest output; at most {VERIFY_RTOL:g} passes), shared weights "
                         f"{'bit-identical' if report['weights_identical'] else 'DIFFERENT'}; nothing written")


@dataclass
class ExportResult:
    """What was written: the ONNX file's size (bytes), the artifact's size (bytes), the encoding per layer."""

    path: str
    nbytes: int
    artifact_bytes: int
    encodings: dict[str, str] = field(default_factory=dict)
    verify: dict | None = None


def _onnx():
    try:
        import onnx
    except ImportError:
        raise DKMError("ONNX export needs the onnx package: pip install deep-kmeans-energy[onnx]") from None
    return onnx


def _int_type(k: int):
    """(numpy dtype, ONNX type) of the smallest integer type for indices 0..k-1."""
    onnx = _onnx()
    if k <= 256:
        return np.uint8, onnx.TensorProto.UINT8
    if k <= 65536:
        return np.uint16, onnx.TensorProto.UINT16
    return np.int32, onnx.TensorProto.INT32


class _Graph:
    """Adds initializers and nodes to an ONNX graph under unique names (prefix per layer)."""

    def __init__(self, graph):
        self.onnx = _onnx()
        self.g = graph
        self.nodes: list = []
        self.consts: dict[str, str] = {}
        self.count = 0
        self.blob = bytearray()  # the packed and Huffman index streams of all layers, one after another
        self._bits: str | None = None

    def add_stream(self, data: bytes) -> int:
        """Append a layer's index stream to the blob; returns its byte offset."""
        off = len(self.blob)
        self.blob += data
        return off

    def blob_bits(self) -> str:
        """The blob as bits (one uint8 0/1 per bit, MSB first): one expansion shared by every layer. The blob is
        only complete once every layer is added; :meth:`finish` writes it."""
        if self._bits is None:
            self._bits = "index_bits"
        return self._bits

    def finish(self) -> list:
        """The nodes, the bit expansion of the blob first (it must precede its uses)."""
        if self._bits is None:
            return self.nodes
        h = self.onnx.helper
        raw = self.init("index_streams", np.frombuffer(bytes(self.blob), np.uint8).copy())
        shifts = self.const("shift8", np.arange(7, -1, -1, dtype=np.uint8))
        one = self.const("one_u8", np.array([1], np.uint8))
        head = [h.make_node("Unsqueeze", [raw, self.i64([1])], ["_col"]),
                h.make_node("BitShift", ["_col", shifts], ["_shift"], direction="RIGHT"),
                h.make_node("BitwiseAnd", ["_shift", one], ["_bit"]),
                h.make_node("Reshape", ["_bit", self.i64([-1])], [self._bits])]
        return head + self.nodes

    def init(self, name: str, array: np.ndarray) -> str:
        self.g.initializer.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def const(self, key: str, array: np.ndarray) -> str:
        """A small constant shared by all layers (one initializer per distinct ``key``)."""
        if key not in self.consts:
            self.consts[key] = self.init(f"k{len(self.consts)}", array)
        return self.consts[key]

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        """Append a node; its output gets a short unique name unless given (names are bytes in the file)."""
        self.count += 1
        output = output or f"_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], **attrs))
        return output

    def i64(self, values) -> str:
        arr = np.asarray(values, dtype=np.int64).reshape(-1)
        return self.const("i64_" + "_".join(map(str, arr.tolist())), arr)


def _bit_segment(G: _Graph, offset: int, nbits: int) -> str:
    """Bits ``offset*8 .. offset*8 + nbits`` of the shared index blob (uint8 0/1, MSB first per byte)."""
    return G.node("Slice", [G.blob_bits(), G.i64([offset * 8]), G.i64([offset * 8 + nbits])])


def _packed_indices(G: _Graph, offset: int, bits: int, n: int) -> str:
    """Subgraph: fixed-width packed indices at byte ``offset`` of the blob -> int64 indices (n,)."""
    grid = G.node("Reshape", [_bit_segment(G, offset, n * bits), G.i64([n, bits])])
    wide = G.node("Cast", [grid], to=G.onnx.TensorProto.INT64)
    pow2 = G.const(f"pow2_{bits}", (np.int64(1) << np.arange(bits - 1, -1, -1, dtype=np.int64)))
    return G.node("ReduceSum", [G.node("Mul", [wide, pow2]), G.i64([1])], keepdims=0)


def _huffman_indices(G: _Graph, p: str, offset: int, nbytes: int, lengths: np.ndarray, local: np.ndarray) -> str:
    """Subgraph: canonical Huffman stream -> int64 indices (n,), decoded block-parallel (module docstring)."""
    onnx, TP = G.onnx, G.onnx.TensorProto
    n = len(local)
    L = int(lengths.max())
    k = len(lengths)
    B = min(HUFFMAN_BLOCK, n)
    nblocks = math.ceil(n / B)
    ends = np.cumsum(lengths[local])
    starts = np.concatenate([[0], ends])[0:n:B][:nblocks]
    deltas = np.diff(np.concatenate([[0], starts]))
    if deltas.max(initial=0) >= 1 << 16:
        raise DKMError("Huffman block longer than 65535 bits")  # cannot happen: B * 24 bits < 2**16
    g_lens = G.init(f"{p}.huffman_lengths", lengths.astype(np.uint8))
    g_deltas = G.init(f"{p}.huffman_block_starts", deltas.astype(np.uint16))
    # bits of the stream, padded so that every window of every step stays inside
    bits = G.node("Cast", [G.node("Reshape", [_bit_segment(G, offset, nbytes * 8), G.i64([1, 1, -1])])],
                  to=TP.FLOAT)
    padded = G.node("Pad", [bits, G.i64([0, 0, 0, 0, 0, B * L + L])], mode="constant")
    kernel = G.const(f"window_{L}", (2.0 ** np.arange(L - 1, -1, -1)).astype(np.float32).reshape(1, 1, L))
    win_f = G.node("Conv", [padded, kernel])
    win = G.node("Cast", [G.node("Reshape", [win_f, G.i64([-1])])], to=TP.INT64)
    # canonical order: symbols by (length, symbol), unused ones (length 0) last: sort the keys len*k + symbol
    lens_all = G.node("Cast", [g_lens], to=TP.INT64)
    unused = G.node("Equal", [lens_all, G.i64([0])])
    len_key = G.node("Where", [unused, G.i64([L + 1]), lens_all])
    symbols = G.node("Range", [G.const("zero_i64", np.array(0, np.int64)), G.const(f"n{k}", np.array(k, np.int64)),
                               G.const("one_i64", np.array(1, np.int64))])
    keys = G.node("Add", [G.node("Mul", [len_key, G.i64([k])]), symbols])
    G.count += 2
    syms64 = f"_{G.count}"
    G.nodes.append(onnx.helper.make_node("TopK", [keys, G.i64([k])], [f"_{G.count - 1}", syms64], largest=0,
                                         sorted=1))
    lens64 = G.node("Gather", [lens_all, syms64])
    # the code of the j-th symbol in that order, left-aligned to L bits, is the sum of 2^(L - len) before it
    # (unused symbols come after all codes: their starts are >= 2^L, above every window)
    exponent = G.node("Cast", [G.node("Sub", [G.i64([L]), lens64])], to=TP.FLOAT)
    span = G.node("Cast", [G.node("Pow", [G.const("two_f", np.array(2.0, np.float32)), exponent])], to=TP.INT64)
    lo = G.node("CumSum", [span, G.const("zero_i64", np.array(0, np.int64))], exclusive=1)
    lo_row = G.node("Unsqueeze", [lo, G.i64([0])])
    starts0 = G.node("CumSum", [G.node("Cast", [g_deltas], to=TP.INT64),
                                G.const("zero_i64", np.array(0, np.int64))])
    # the loop body: one index of every block per step
    h = onnx.helper
    body_nodes = [
        h.make_node("Identity", ["cond_in"], ["cond_out"]),
        h.make_node("Gather", [win, "pos"], ["v"]),
        h.make_node("Unsqueeze", ["v", G.i64([1])], ["v_col"]),
        h.make_node("GreaterOrEqual", ["v_col", lo_row], ["ge"]),
        h.make_node("Cast", ["ge"], ["ge64"], to=TP.INT64),
        h.make_node("ReduceSum", ["ge64", G.i64([1])], ["cnt"], keepdims=0),
        h.make_node("Sub", ["cnt", G.i64([1])], ["j"]),
        h.make_node("Gather", [syms64, "j"], ["sym"]),
        h.make_node("Gather", [lens64, "j"], ["len"]),
        h.make_node("Add", ["pos", "len"], ["pos_out"]),
    ]
    vi = h.make_tensor_value_info
    body = h.make_graph(body_nodes, "huffman_step",
                        [vi("iter", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("pos", TP.INT64, [nblocks])],
                        [vi("cond_out", TP.BOOL, []), vi("pos_out", TP.INT64, [nblocks]),
                         vi("sym", TP.INT64, [nblocks])])
    trips = G.const(f"trips_{B}", np.array(B, np.int64))
    true = G.const("true", np.array(True))
    G.count += 2
    steps = f"_{G.count}"
    G.nodes.append(h.make_node("Loop", [trips, true, starts0], [f"_{G.count - 1}", steps], body=body))
    by_block = G.node("Transpose", [steps], perm=[1, 0])
    flat = G.node("Reshape", [by_block, G.i64([-1])])
    return G.node("Slice", [flat, G.i64([0]), G.i64([n])])


def _int_indices(G: _Graph, p: str, local: np.ndarray, k: int) -> str:
    dt, _ = _int_type(k)
    raw = G.init(f"{p}.indices", local.astype(dt))
    return G.node("Cast", [raw], to=G.onnx.TensorProto.INT64)


#: Approximate bytes of each encoding's subgraph (nodes and small constants), so that ``auto`` weighs them too:
#: on a small layer the Huffman decoder costs more than its code saves.
GRAPH_BYTES = {"int": 60, "packed": 200, "huffman": 1400}


def _choose(entry: dict, k: int, n: int, requested: str) -> str:
    """The encoding of one layer: the requested one, or (auto) the one with the fewest bytes, graph included."""
    ix = entry["indices"]
    sizes = {"int": n * np.dtype(_int_type(k)[0]).itemsize}
    if ix["bits"] > 0:
        sizes["packed"] = math.ceil(n * ix["bits"] / 8)
    if ix["encoding"] == "huffman":
        sizes["huffman"] = ix["nbytes"] + k + 2 * math.ceil(n / min(HUFFMAN_BLOCK, n))
    if requested != "auto":
        if requested == "huffman" and "huffman" not in sizes:
            requested = "packed" if "packed" in sizes else "int"  # the artifact holds no Huffman code here
        if requested == "packed" and "packed" not in sizes:
            requested = "int"
        return requested
    return min(sizes, key=lambda e: (sizes[e] + GRAPH_BYTES[e], ENCODINGS.index(e)))


def _compact(graph, keep: set[str]) -> None:
    """Drop node names and doc strings and give the exporter's intermediate values short names (each is stored
    once per use, and on small models they add up to a noticeable share of the file); values in ``keep``, the
    graph's inputs, outputs and initializers keep theirs."""
    keep = set(keep) | {v.name for v in graph.input} | {v.name for v in graph.output}
    keep |= {t.name for t in graph.initializer}
    rename: dict[str, str] = {}
    for node in graph.node:
        node.name = ""
        node.doc_string = ""
        for i, v in enumerate(node.output):
            if v and v not in keep and not v.startswith("_") and v not in rename:
                rename[v] = f"t{len(rename)}"
            if v in rename:
                node.output[i] = rename[v]
        for i, v in enumerate(node.input):
            if v in rename:
                node.input[i] = rename[v]
    graph.doc_string = ""


def export_onnx(source: str | os.PathLike | Artifact, out: str | os.PathLike, *, indices: str = "auto",
                input_shape: tuple[int, ...] | None = None, verify_inputs: int = 0) -> ExportResult:
    """Write ``source`` (a ``.dkm`` path or a loaded :class:`~dkm.artifact.Artifact`) as an ONNX model to ``out``.

    ``indices``: ``auto`` (smallest per layer), ``int``, ``packed`` or ``huffman`` (module docstring; a layer
    whose artifact holds no Huffman code falls back to packed). ``input_shape`` ``(C, H, W)`` of one sample,
    default: the zoo model's. The graph's input ``input`` and output ``output`` have a free batch dimension.
    ``out`` (a new path or a regular file; missing folders are made) is checked before the work and written
    whole (a temporary sibling, then a rename). With ``verify_inputs`` > 0 the model is first checked by
    :func:`verify`: :class:`ExportMismatch` if it fails, and nothing is written.
    """
    onnx = _onnx()
    out = check_out_file(out, "out")
    if indices not in ENCODINGS:
        raise DKMError(f"index encoding must be one of {ENCODINGS}, got {indices!r}")
    _check_inputs(verify_inputs, allow_zero=True)
    art = source if isinstance(source, Artifact) else load(source)
    raw = Path(art.path).read_bytes()
    manifest, payload = parse(raw, art.path)
    if input_shape is None:
        from energysim import zoo

        if not manifest.get("model"):
            raise DKMError("the artifact names no zoo model: pass input_shape (C, H, W)")
        input_shape = zoo.input_shape(manifest["model"])
    model = art.model.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, torch.zeros(1, *input_shape), buf, dynamo=False, opset_version=OPSET,
                          do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    mp = onnx.load_from_string(buf.getvalue())
    G = _Graph(mp.graph)
    inits = {t.name: t for t in mp.graph.initializer}
    encodings = {}
    for e in manifest["layers"]:
        name, sl = e["name"], art.layers[e["name"]]
        key = f"{name}.weight"
        if key not in inits:
            raise DKMError(f"layer {name!r}: the exported graph has no initializer {key!r} to replace")
        mp.graph.initializer.remove(inits[key])
        p = name
        enc = _choose(e, sl.k, sl.n, indices)
        local = sl.local_assignments
        if enc == "int":
            idx = _int_indices(G, p, local, sl.k)
        elif enc == "packed":
            idx = _packed_indices(G, G.add_stream(bitcodes.pack(local, sl.index_bits)), sl.index_bits, sl.n)
        else:
            ix = e["indices"]
            lengths = np.frombuffer(bytes(payload[ix["lengths"]["offset"]:ix["lengths"]["offset"]
                                                  + ix["lengths"]["nbytes"]]), np.uint8).astype(np.int64)
            data = bytes(payload[ix["offset"]:ix["offset"] + ix["nbytes"]])
            idx = _huffman_indices(G, p, G.add_stream(data), len(data), lengths, local)
        encodings[name] = enc
        cb_dtype = np.dtype(e["codebook"]["dtype"])
        cb = sl.codebook.astype(cb_dtype).reshape(sl.luts, sl.k, sl.s) if sl.luts > 1 else sl.codebook.astype(cb_dtype)
        book = G.init(f"{p}.codebook", cb)
        if cb_dtype != np.float32:
            book = G.node("Cast", [book], to=onnx.TensorProto.FLOAT)
        if sl.luts > 1:
            idx3 = G.node("Reshape", [idx, G.i64([sl.luts, sl.n // sl.luts, 1])])
            rows = G.node("GatherND", [book, idx3], batch_dims=1)
        else:
            rows = G.node("Gather", [book, idx], axis=0)
        G.node("Reshape", [rows, G.i64(list(sl.shape))], key)
    # the weight subgraphs go first: every consumer of NAME.weight comes after its producer
    old = list(mp.graph.node)
    del mp.graph.node[:]
    mp.graph.node.extend(G.finish() + old)
    _compact(mp.graph, {f"{e['name']}.weight" for e in manifest["layers"]})
    onnx.checker.check_model(mp)
    data = mp.SerializeToString()
    report = None
    if verify_inputs:
        report = verify(art, data, verify_inputs)
        if not report["ok"]:
            raise ExportMismatch(report)
    write_file(out, data, "out")
    return ExportResult(str(out), len(data), len(raw), encodings, report)


def _check_inputs(inputs, allow_zero: bool = False) -> None:
    lo = 0 if allow_zero else 1
    if isinstance(inputs, bool) or not isinstance(inputs, (int, np.integer)) or not lo <= inputs <= MAX_VERIFY_INPUTS:
        raise DKMError(f"verify inputs must be an integer in {lo}..{MAX_VERIFY_INPUTS}, got {inputs!r}")


def _model_source(model: str | os.PathLike | bytes):
    """What onnxruntime and onnx's reference evaluator take: the serialized model, or a path as text."""
    return model if isinstance(model, bytes) else str(model)


def run_onnx(path: str | os.PathLike | bytes, x: np.ndarray) -> tuple[np.ndarray, str]:
    """The ONNX model's (a file, or its bytes) output for input ``x`` (float32) and the runtime's name:
    onnxruntime when installed, else onnx's reference evaluator (slow, but part of ``onnx``)."""
    try:
        import onnxruntime as ort
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(_model_source(path)).run(None, {"input": x})[0], "onnx.reference"
    sess = ort.InferenceSession(_model_source(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0], f"onnxruntime {ort.__version__}"


def verify(artifact: str | os.PathLike | Artifact, onnx_path: str | os.PathLike | bytes, inputs: int = 100,
           seed: int = 0) -> dict:
    """Run ``inputs`` (1 .. :data:`MAX_VERIFY_INPUTS`) seeded standard-normal inputs through the ONNX model (a
    file, or its bytes) and ``dkm.load(artifact).model``, and compare the weights the graph computes with the
    artifact's.

    Returns ``{"inputs", "runtime", "max_abs_diff", "max_rel_diff", "weights_identical", "ok"}``: the largest
    absolute output difference, the same over the largest absolute output (float32 accumulation order differs
    between runtimes: about 1e-7 relative), whether every shared weight the graph computes is bit-identical, and
    whether all of that passes (identical weights, a finite difference of at most :data:`VERIFY_RTOL` relative).
    """
    onnx = _onnx()
    _check_inputs(inputs)
    art = artifact if isinstance(artifact, Artifact) else load(artifact)
    from energysim import zoo

    shape = zoo.input_shape(art.manifest["model"])
    x = torch.randn(inputs, *shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = art.model.eval()(x).numpy()
    out, runtime = run_onnx(onnx_path, x.numpy())
    # the weight subgraphs alone: the same graph with the shared weights as its outputs (run from memory: a
    # temporary file beside the output could overwrite one of the user's)
    mp = onnx.load_from_string(onnx_path) if isinstance(onnx_path, bytes) else onnx.load(str(onnx_path))
    names = [f"{n}.weight" for n in art.layers]
    del mp.graph.output[:]
    mp.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    got = _run_outputs(mp.SerializeToString(), x[:1].numpy())
    state = art.model.state_dict()
    same = all(np.array_equal(g, state[n].numpy()) for g, n in zip(got, names))
    diff = float(np.abs(out - ref).max())
    rel = diff / max(float(np.abs(ref).max()), 1e-30)
    return {"inputs": inputs, "runtime": runtime, "max_abs_diff": diff, "max_rel_diff": rel,
            "weights_identical": same, "ok": bool(same and math.isfinite(diff) and rel <= VERIFY_RTOL)}


def _run_outputs(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(model).run(None, {"input": x})
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"input": x})
