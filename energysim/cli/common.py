"""What the sub-commands share: reading a MODEL argument (a zoo name or an .onnx file) into a ``Network``, and
reading a small JSON input file."""

from __future__ import annotations

import json
import math
from pathlib import Path

from energysim.errors import EnergySimError

#: Largest JSON input file (densities, ...): such files hold a few numbers per layer.
MAX_JSON_BYTES = 16 * 2**20


def is_onnx_path(spec: str) -> bool:
    """Whether a MODEL argument names an ONNX file rather than a zoo model: its suffix in any case (``x.ONNX``)."""
    return spec.lower().endswith(".onnx")


def load_network(spec: str, batch: int = 1, lenient: bool = False):
    """A zoo model name (or, where ONNX import is available, a path to an .onnx file) as a ``Network``;
    ``lenient`` is the API's ``strict=False``."""
    from energysim.workload.trace import trace_model

    try:
        if is_onnx_path(spec):
            try:
                from energysim.workload.onnx import from_onnx
            except ImportError:
                raise EnergySimError(f"cannot read {spec!r}: ONNX import is not available in this build") from None
            return from_onnx(spec, batch=batch, strict=not lenient)
        return trace_model(spec, batch=batch, strict=not lenient)
    except EnergySimError as exc:
        # the importers speak to API users; on the command line the switch is --lenient
        msg = str(exc)
        if "strict=False" in msg:
            msg = msg.replace("strict=False (command line: --lenient)", "--lenient")
            raise EnergySimError(msg.replace("strict=False", "--lenient")) from None
        raise


def read_json_file(path: str, flag: str, max_bytes: int | None = None):
    """The JSON in ``path``, for option ``flag``, at most ``max_bytes`` (default ``MAX_JSON_BYTES``) long; only
    finite numbers (JSON has no NaN or Infinity, though Python's reader takes them), no key twice in an object."""
    max_bytes = MAX_JSON_BYTES if max_bytes is None else max_bytes
    p = Path(path)
    if not p.is_file():
        raise EnergySimError(f"{flag} {path!r}: no such file" if not p.exists() else f"{flag} {path!r} is not a file")
    size = p.stat().st_size
    if size > max_bytes:
        raise EnergySimError(f"{flag} {path!r} is {size:,} bytes; at most {max_bytes:,} are read")

    def bad_constant(name):
        raise EnergySimError(f"{flag} {path!r}: {name} is not a JSON number; give finite numbers")

    def finite(text):
        v = float(text)
        if not math.isfinite(v):
            raise EnergySimError(f"{flag} {path!r}: {text} is out of range; give finite numbers")
        return v

    def unique(pairs):
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:  # Python's reader keeps the last value silently
            raise EnergySimError(f"{flag} {path!r}: key(s) {dup} given twice in one object")
        return dict(pairs)

    try:
        return json.loads(p.read_bytes().decode("utf-8"), parse_constant=bad_constant, parse_float=finite,
                          object_pairs_hook=unique)
    except UnicodeDecodeError:
        raise EnergySimError(f"{flag} {path!r} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise EnergySimError(f"{flag} {path!r} is not valid JSON: {exc}") from None
