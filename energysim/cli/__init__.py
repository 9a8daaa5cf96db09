"""The ``energysim`` command line. Each sub-command lives in a module with ``register(subparsers)``.

Errors meant for users (``EnergySimError``, and pydantic/OS errors about their inputs) print one line on
stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from energysim.errors import EnergySimError

#: Modules that add sub-commands. Each defines ``register(subparsers)``; the handler is set with
#: ``parser.set_defaults(func=...)`` and returns an exit status.
COMMAND_MODULES = [
    "energysim.cli",  # models, layers (below)
    "energysim.cli.estimate",
    "energysim.cli.timeloop",
    "energysim.cli.sweep",
]


def _cmd_models(args: argparse.Namespace) -> int:
    from energysim.workload import zoo

    for e in zoo.MODELS.values():
        shape = "x".join(map(str, e.input_shape))
        print(f"{e.name:<13} {shape:<10} {e.description}")
    return 0


def load_network(spec: str, batch: int = 1):
    """A zoo model name (or, where ONNX import is available, a path to an .onnx file) as a ``Network``."""
    from energysim.workload.trace import trace_model

    if spec.endswith(".onnx"):
        try:
            from energysim.workload.onnx_import import from_onnx
        except ImportError:
            raise EnergySimError(f"cannot read {spec!r}: ONNX import is not available in this build") from None
        return from_onnx(spec, batch=batch)
    return trace_model(spec, batch=batch)


def _cmd_layers(args: argparse.Namespace) -> int:
    net = load_network(args.model, args.batch)
    df = net.to_dataframe()
    if args.json:
        print(json.dumps(df.to_dict(orient="records"), indent=1))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 200):
            print(df.to_string(index=False))
        print(f"\n{net.name}: {len(net)} layers, {net.macs:,} MACs at batch {args.batch}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("models", help="list the built-in model zoo")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("layers", help="per-layer table of a model: loop bounds, MACs, tensor sizes")
    p.add_argument("model", help="zoo model name (see `energysim models`) or an .onnx file")
    p.add_argument("--batch", type=int, default=1, help="batch size N (default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.set_defaults(func=_cmd_layers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energysim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in COMMAND_MODULES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:  # a command module not present in this build
                continue
            raise
        m.register(sub)
    return parser


def run_command(func, args) -> int:
    """Call a handler, turning user-facing errors into one line on stderr and exit status 2."""
    from pydantic import ValidationError

    try:
        return int(func(args) or 0)
    except (EnergySimError, ValidationError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        msg = str(exc).strip().replace("\n", "; ")
        print(f"{parser_prog(args)}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parser_prog(args) -> str:
    return getattr(args, "_prog", "energysim")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
