"""The ``dkm`` command line: ``dkm compress`` and ``dkm inspect``.

Subcommands are :class:`Command` objects in :data:`COMMANDS`; a new one (``dkm score``, ...) lives in its own
module ``dkm/cli_<name>.py`` that calls :func:`register` when imported (such modules are found and imported
when the parser is built). A bad input prints one line (``dkm: error: ...``) and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from energysim.errors import EnergySimError


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure(parser)`` adds its arguments, ``run(args) -> exit code``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: list[Command] = []


def register(cmd: Command) -> Command:
    """Add (or replace, by name) a subcommand."""
    COMMANDS[:] = [c for c in COMMANDS if c.name != cmd.name]
    COMMANDS.append(cmd)
    return cmd


def _load_plugins() -> None:
    """Import every ``dkm/cli_*.py`` module: each registers its subcommand(s) when imported."""
    import importlib
    import pkgutil

    import dkm

    for info in pkgutil.iter_modules(dkm.__path__):
        if info.name.startswith("cli_"):
            importlib.import_module(f"dkm.{info.name}")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, through main's handler
        from .errors import DKMError

        raise DKMError(message)


def _floats(text: str, what: str) -> list[float]:
    from .errors import DKMError

    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise DKMError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def _clusters(text: str):
    """``K1,K2,...`` (layer order) or ``name=K,...``."""
    from .errors import DKMError

    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        if all("=" in t for t in items):
            return {n.strip(): int(k) for n, k in (t.split("=", 1) for t in items)}
        return [int(t) for t in items]
    except ValueError:
        raise DKMError(f"--clusters: expected integers K1,K2,... or name=K,..., got {text!r}") from None


# --------------------------------------------------------------------------------------- dkm compress
def _configure_compress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="zoo model name (energysim.zoo)")
    p.add_argument("--data", required=True, help="digits | mnist:DIR | mnist10k:DIR | cifar10:DIR")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cluster-rate", type=float, default=None, help="K = ceil(rate * N) per layer (default 0.1)")
    g.add_argument("--clusters", default=None, help="K per shared layer: K1,K2,... or name=K,...")
    p.add_argument("--first-rate", type=float, default=None, help="cluster rate of the first shared layer")
    p.add_argument("--regularizer", choices=["spectral", "hard", "none"], default="spectral")
    p.add_argument("--lam", type=float, default=1e-4, help="regularizer weight lambda (default 1e-4)")
    p.add_argument("--f-update-epochs", type=int, default=5, help="recompute F every T epochs (default 5)")
    p.add_argument("--sparsity", default=None, help="fraction p of zero vectors: one value or p1,p2,... per layer")
    p.add_argument("--grouping", choices=["row", "kernel", "scalar"], default="row")
    p.add_argument("--linear-vector-size", type=int, default=0, help="also share linear layers (vector size; 0 = no)")
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--retrain-epochs", type=int, default=10)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--state-dict", default=None, help="load pre-trained weights (torch state_dict) instead of pre-training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float16-codebook", action="store_true", help="store codebooks as float16")
    p.add_argument("--no-huffman", action="store_true", help="fixed-width indices only")
    p.add_argument("--out", required=True, help="output directory (model.dkm, result.json)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def result_dict(res, art_bytes: int, dense: int, data_note: str) -> dict:
    """The JSON result of a compression run (accuracies in %, sizes in bytes, ratios dimensionless)."""
    from .records import codebook_records

    r = res.ratios
    return {
        "baseline_accuracy": res.baseline_accuracy,
        "shared_accuracy_no_retrain": res.shared_accuracy_no_retrain,
        "retrained_accuracy": res.retrained_accuracy,
        "shared_accuracy": res.shared_accuracy,
        "accuracy": res.accuracy,
        "compression_ratio_han": r["han"],
        "compression_ratio_entropy": r["entropy"],
        "compression_ratio_bytes": dense / art_bytes,
        "conv_compression_ratio_han": r["conv_han"],
        "conv_compression_ratio_entropy": r["conv_entropy"],
        "artifact_bytes": art_bytes,
        "dense_bytes": dense,
        "data": data_note,
        "layers": [{"name": c.layer, "k": c.k, "vector_size": c.vector_size, "rows": c.rows,
                    "index_bits": c.index_bits, "entropy_bits": c.entropy_bits}
                   for c in codebook_records(res.shared, with_assignments=False)],
        "config": res.config,
    }


def _run_compress(a: argparse.Namespace) -> int:
    import torch

    from energysim import zoo

    from . import artifact, data, ratio
    from .errors import DKMError
    from .pipeline import CompressConfig, compress
    from .progress import Progress

    torch.manual_seed(a.seed)
    model = zoo.build(a.model)
    sparsity = None
    if a.sparsity is not None:
        sp = _floats(a.sparsity, "--sparsity")
        sparsity = sp[0] if len(sp) == 1 else sp
    cfg = CompressConfig(
        clusters=_clusters(a.clusters) if a.clusters else None,
        cluster_rate=None if a.clusters else (a.cluster_rate if a.cluster_rate is not None else 0.1),
        first_rate=a.first_rate, regularizer=a.regularizer, lam=a.lam, f_update_epochs=a.f_update_epochs,
        sparsity=sparsity, grouping=a.grouping, linear_vector_size=a.linear_vector_size,
        pretrain_epochs=a.pretrain_epochs, retrain_epochs=a.retrain_epochs, finetune_epochs=a.finetune_epochs,
        seed=a.seed)
    cfg.validate()
    # Validate the layer list before loading data or training (cheap, and the commonest mistake).
    from .layers import resolve_layers

    resolve_layers(model, clusters=cfg.clusters, cluster_rate=cfg.cluster_rate, first_rate=cfg.first_rate,
                   sparsity=cfg.sparsity, mode=cfg.grouping, linear_vector_size=cfg.linear_vector_size)
    ds = data.load(a.data)
    state = None
    if a.state_dict:
        if not Path(a.state_dict).is_file():
            raise DKMError(f"--state-dict file {a.state_dict!r} does not exist")
        state = torch.load(a.state_dict, map_location="cpu", weights_only=True)
    res = compress(model, ds, cfg, state_dict=state, progress=Progress(enabled=not a.quiet))

    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise DKMError(f"--out {a.out!r} exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        nbytes = artifact.save(tmp / "model.dkm", res.model, res.shared, model_name=a.model,
                               huffman=not a.no_huffman, float16=a.float16_codebook)
        result = result_dict(res, nbytes, ratio.state_bytes(res.model.state_dict()), ds.note)
        result["model"] = a.model
        (tmp / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        out.mkdir(exist_ok=True)
        for f in tmp.iterdir():  # each file appears whole or not at all
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"accuracy {result['accuracy']:.2f}% (baseline {result['baseline_accuracy']:.2f}%), "
              f"CR han {result['compression_ratio_han']:.2f}x, entropy {result['compression_ratio_entropy']:.2f}x, "
              f"bytes {result['compression_ratio_bytes']:.2f}x -> {out / 'model.dkm'}")
    return 0


# --------------------------------------------------------------------------------------- dkm inspect
def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .dkm artifact")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _run_inspect(a: argparse.Namespace) -> int:
    from .artifact import parse
    from .errors import DKMError

    path = Path(a.file)
    if not path.is_file():
        raise DKMError(f"artifact {a.file!r} does not exist")
    data = path.read_bytes()
    manifest, _ = parse(data)
    if a.json:
        print(json.dumps(manifest))
        return 0
    print(f"{a.file}: {len(data)} bytes, model {manifest.get('model')!r}, format v{manifest['version']}, sha256 ok")
    print(f"{'layer':<24s}{'shape':<18s}{'K':>6s}{'s':>3s}{'N':>9s}{'bits':>5s}  {'encoding':<8s}{'index B':>9s}{'codebook B':>11s}")
    for e in manifest["layers"]:
        ix = e["indices"]
        print(f"{e['name']:<24s}{'x'.join(map(str, e['shape'])):<18s}{e['k']:>6d}{e['s']:>3d}{e['n']:>9d}"
              f"{ix['bits']:>5d}  {ix['encoding']:<8s}{ix['nbytes']:>9d}{e['codebook']['nbytes']:>11d}")
    raw = sum(t["nbytes"] for t in manifest["tensors"])
    print(f"{len(manifest['tensors'])} unshared tensors, {raw} bytes")
    return 0


register(Command("compress", "compress a zoo model with Deep k-Means", _configure_compress, _run_compress))
register(Command("inspect", "print the contents of a .dkm artifact", _configure_inspect, _run_inspect))

# Subcommands in their own modules register themselves on import (after Command/register exist).
from . import cli_compare, cli_score  # noqa: E402,F401


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = _Parser(prog="dkm", description="Deep k-Means CNN compression")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for cmd in COMMANDS:
        cmd.configure(sub.add_parser(cmd.name, help=cmd.help, description=cmd.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    if "OMP_NUM_THREADS" not in os.environ:
        # The models here are small: one intra-op thread is as fast on an idle machine and avoids a 10-20x
        # slow-down from spinning thread pools on a busy one. OMP_NUM_THREADS overrides.
        import torch

        torch.set_num_threads(1)
    try:
        args = build_parser().parse_args(argv)
        cmd = next(c for c in COMMANDS if c.name == args.command)
        return cmd.run(args)
    except EnergySimError as e:  # DKMError is one; both are the user's input, not our bug
        print(f"dkm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from dkm.cli import main as _main  # the imported module holds the subcommands registered on import

    sys.exit(_main())
