"""A small reader of ONNX files (protobuf wire format) for shape-only use: graph, nodes, attributes, initializers
and value infos, with the field names of the ``onnx`` package's classes that the importer reads.

Why: ``import onnx`` costs more CPU than everything else of an ONNX import of ResNet-18 together (it imports
``ml_dtypes`` and protobuf's runtime), while the importer needs only names, shapes, attributes and a few small
constants. The ``onnx`` package stays the reference: it is imported only when a node needs ONNX shape inference
(``_Importer.inferred``) or when the caller passes an ``onnx.ModelProto``. Tensor data is decoded only on
request (``Tensor.to_array``); raw data is a view into the file's bytes.

Field numbers are those of ``onnx.proto`` (stable since IR version 3); unknown fields are skipped, as protobuf
does. Malformed input raises ``WireError``.
"""

from __future__ import annotations

import struct

import numpy as np


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


# wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _fields(buf, start: int = 0, end: int | None = None):
    """Yield (field number, wire type, value) of the message in ``buf[start:end]``; a LEN value is (start, end)."""
    pos = start
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0")
        if wt == _VARINT:
            v, pos = _varint(buf, pos)
        elif wt == _LEN:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise WireError("truncated length-delimited field")
            v = (pos, pos + n)
            pos += n
        elif wt == _I64:
            if pos + 8 > end:
                raise WireError("truncated 64-bit field")
            v = (pos, pos + 8)
            pos += 8
        elif wt == _I32:
            if pos + 4 > end:
                raise WireError("truncated 32-bit field")
            v = (pos, pos + 4)
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wt}")
        yield num, wt, v
    if pos != end:
        raise WireError("message overruns its length")


def _str(buf, v) -> str:
    try:
        return bytes(buf[v[0]:v[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("a string field is not UTF-8") from None


def _ints(buf, wt, v, out: list) -> None:
    """A repeated int64 field, packed (LEN) or not (VARINT)."""
    if wt == _VARINT:
        out.append(_signed(v))
        return
    if wt != _LEN:
        raise WireError("bad wire type for an integer")
    pos, end = v
    while pos < end:
        x, pos = _varint(buf, pos)
        out.append(_signed(x))


def _floats(buf, wt, v, out: list) -> None:
    if wt == _I32:
        out.append(struct.unpack_from("<f", buf, v[0])[0])
    elif wt == _LEN:
        out.extend(np.frombuffer(bytes(buf[v[0]:v[1]]), dtype="<f4").tolist())
    else:
        raise WireError("bad wire type for a float")


class _Message:
    """Fields as attributes; ``HasField`` as protobuf's (for the fields the importer asks about)."""

    _set: frozenset = frozenset()

    def HasField(self, name: str) -> bool:  # noqa: N802  (protobuf's spelling)
        return name in self._set


class Dim(_Message):
    def __init__(self, buf, start, end):
        self.dim_value, self.dim_param = 0, ""
        present = set()
        for num, wt, v in _fields(buf, start, end):
            if num == 1 and wt == _VARINT:
                self.dim_value = _signed(v)
                present.add("dim_value")
            elif num == 2 and wt == _LEN:
                self.dim_param = _str(buf, v)
                present.add("dim_param")
        self._set = frozenset(present)


class Shape(_Message):
    def __init__(self, buf, start, end):
        self.dim = [Dim(buf, *v) for num, wt, v in _fields(buf, start, end) if num == 1 and wt == _LEN]


class TensorType(_Message):
    def __init__(self, buf, start, end):
        self.elem_type = 0
        self.shape = None
        for num, wt, v in _fields(buf, start, end):
            if num == 1 and wt == _VARINT:
                self.elem_type = v
            elif num == 2 and wt == _LEN:
                self.shape = Shape(buf, *v)
        self._set = frozenset({"shape"} if self.shape is not None else ())


class TypeProto(_Message):
    def __init__(self, buf, start, end):
        self.tensor_type = None
        for num, wt, v in _fields(buf, start, end):
            if num == 1 and wt == _LEN:
                self.tensor_type = TensorType(buf, *v)
        if self.tensor_type is None:  # a sequence/map type: no tensor shape, as protobuf's empty default
            self.tensor_type = TensorType(buf, 0, 0)


class ValueInfo(_Message):
    def __init__(self, buf, start, end):
        self.name = ""
        self.type = None
        for num, wt, v in _fields(buf, start, end):
            if num == 1 and wt == _LEN:
                self.name = _str(buf, v)
            elif num == 2 and wt == _LEN:
                self.type = TypeProto(buf, *v)
        if self.type is None:
            self.type = TypeProto(buf, 0, 0)


#: ONNX TensorProto.DataType -> numpy dtype of its raw little-endian data
_DTYPES = {1: "<f4", 2: "u1", 3: "i1", 4: "<u2", 5: "<i2", 6: "<i4", 7: "<i8", 9: "?", 10: "<f2", 11: "<f8",
           12: "<u4", 13: "<u8", 14: "<c8", 15: "<c16", 16: "<u2"}
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class Tensor(_Message):
    """An initializer or constant; ``to_array`` decodes its data (``numpy_helper.to_array``'s values)."""

    def __init__(self, buf, start, end):
        self._buf = buf
        self.name = ""
        self.dims: list[int] = []
        self.data_type = 0
        self.data_location = 0
        self._raw = None
        self._typed: dict[int, list] = {}
        for num, wt, v in _fields(buf, start, end):
            if num == 1:
                _ints(buf, wt, v, self.dims)
            elif num == 2 and wt == _VARINT:
                self.data_type = v
            elif num == 8 and wt == _LEN:
                self.name = _str(buf, v)
            elif num == 9 and wt == _LEN:
                self._raw = v
            elif num == 14 and wt == _VARINT:
                self.data_location = v
            elif num in (4, 5, 6, 7, 10, 11):
                self._typed.setdefault(num, []).append((wt, v))

    def to_array(self) -> np.ndarray:
        if self.data_location == EXTERNAL:
            raise WireError(f"tensor {self.name!r} keeps its data in an external file")
        shape = tuple(self.dims)
        buf = self._buf
        if self.data_type == 8:  # strings
            vals = [bytes(buf[v[0]:v[1]]) for _, v in self._typed.get(6, [])]
            return np.array(vals, dtype=object).reshape(shape)
        if self.data_type not in _DTYPES:
            raise WireError(f"tensor {self.name!r} has unsupported data type {self.data_type}")
        dt = np.dtype(_DTYPES[self.data_type])
        if self._raw is not None:
            a = np.frombuffer(buf, dtype=dt, count=(self._raw[1] - self._raw[0]) // dt.itemsize, offset=self._raw[0])
        elif 4 in self._typed or 10 in self._typed:  # float_data (float, complex64), double_data
            field, size = (4, "<f4") if 4 in self._typed else (10, "<f8")
            vals: list = []
            for wt, v in self._typed[field]:
                if wt == _LEN:
                    vals.extend(np.frombuffer(bytes(buf[v[0]:v[1]]), dtype=size).tolist())
                else:
                    vals.append(struct.unpack_from(size, buf, v[0])[0])
            a = np.array(vals, dtype=size).view(dt) if self.data_type in (14, 15) else np.array(vals, dtype=dt)
        else:  # int32_data (small ints, bool, float16 bits), int64_data, uint64_data: varints
            vals = []
            for field in (5, 7, 11):
                for wt, v in self._typed.get(field, []):
                    _ints(buf, wt, v, vals)
            if self.data_type in (10, 16):
                a = np.array(vals, dtype=np.uint16).view(dt)
            elif self.data_type == 13:
                a = np.array([x & 0xFFFFFFFFFFFFFFFF for x in vals], dtype=np.uint64)
            else:
                a = np.array(vals, dtype=np.int64).astype(dt)
        if self.data_type == 16:  # bfloat16: the high half of a float32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        return a.reshape(shape)


class Attribute(_Message):
    """A node attribute; ``value`` as ``onnx.helper.get_attribute_value`` gives it (a ``Tensor`` for tensors)."""

    def __init__(self, buf, start, end):
        self.name = ""
        kind = 0
        single: dict[int, object] = {}
        ints: list = []
        floats: list = []
        strings: list = []
        tensors: list = []
        graphs: list = []
        for num, wt, v in _fields(buf, start, end):
            if num == 1 and wt == _LEN:
                self.name = _str(buf, v)
            elif num == 20 and wt == _VARINT:
                kind = v
            elif num == 2:
                tmp: list = []
                _floats(buf, wt, v, tmp)
                single[2] = tmp[0]
            elif num == 3 and wt == _VARINT:
                single[3] = _signed(v)
            elif num == 4 and wt == _LEN:
                single[4] = bytes(buf[v[0]:v[1]])
            elif num == 5 and wt == _LEN:
                single[5] = Tensor(buf, *v)
            elif num == 6 and wt == _LEN:
                single[6] = Graph(buf, *v)
            elif num == 7:
                _floats(buf, wt, v, floats)
            elif num == 8:
                _ints(buf, wt, v, ints)
            elif num == 9 and wt == _LEN:
                strings.append(bytes(buf[v[0]:v[1]]))
            elif num == 10 and wt == _LEN:
                tensors.append(Tensor(buf, *v))
            elif num == 11 and wt == _LEN:
                graphs.append(Graph(buf, *v))
        by_kind = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6}
        lists = {6: floats, 7: ints, 8: strings, 9: tensors, 10: graphs}
        if kind in by_kind:
            self.value = single.get(by_kind[kind], {2: 0.0, 3: 0, 4: b""}.get(by_kind[kind]))
        elif kind in lists:
            self.value = list(lists[kind])
        elif kind == 0:  # no type (IR < 3 writers): whichever field is there
            present = [single[n] for n in (2, 3, 4, 5, 6) if n in single]
            seqs = [x for x in (floats, ints, strings, tensors, graphs) if x]
            self.value = present[0] if present else (list(seqs[0]) if seqs else None)
        else:  # sparse tensors, type protos: nothing the importer reads
            self.value = None


class Node(_Message):
    def __init__(self, buf, start, end):
        self.input: list[str] = []
        self.output: list[str] = []
        self.name = self.op_type = self.domain = ""
        self.attribute: list[Attribute] = []
        for num, wt, v in _fields(buf, start, end):
            if wt != _LEN:
                continue
            if num == 1:
                self.input.append(_str(buf, v))
            elif num == 2:
                self.output.append(_str(buf, v))
            elif num == 3:
                self.name = _str(buf, v)
            elif num == 4:
                self.op_type = _str(buf, v)
            elif num == 5:
                self.attribute.append(Attribute(buf, *v))
            elif num == 7:
                self.domain = _str(buf, v)


class Graph(_Message):
    def __init__(self, buf, start, end):
        self.name = ""
        self.node: list[Node] = []
        self.initializer: list[Tensor] = []
        self.input: list[ValueInfo] = []
        self.output: list[ValueInfo] = []
        self.value_info: list[ValueInfo] = []
        for num, wt, v in _fields(buf, start, end):
            if wt != _LEN:
                continue
            if num == 1:
                self.node.append(Node(buf, *v))
            elif num == 2:
                self.name = _str(buf, v)
            elif num == 5:
                self.initializer.append(Tensor(buf, *v))
            elif num == 11:
                self.input.append(ValueInfo(buf, *v))
            elif num == 12:
                self.output.append(ValueInfo(buf, *v))
            elif num == 13:
                self.value_info.append(ValueInfo(buf, *v))


class Model(_Message):
    """An ONNX model read from ``data`` (the file's bytes, kept for ``onnx`` should inference be needed)."""

    def __init__(self, data: bytes):
        self.data = data
        buf = memoryview(data)
        self.graph = None
        self.ir_version = 0
        for num, wt, v in _fields(buf):
            if num == 7 and wt == _LEN:
                self.graph = Graph(buf, *v)
            elif num == 1 and wt == _VARINT:
                self.ir_version = v
        if self.graph is None:
            self.graph = Graph(buf, 0, 0)
