"""``dkm inspect``: what a ``.dkm`` artifact holds."""

from __future__ import annotations

import argparse

from dkm.cli.common import Command
from energysim.analysis.schema import dumps, stamped

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="ARTIFACT", help="a .dkm artifact")
    p.add_argument("--json", action="store_true",
                   help="print the manifest as one JSON object (with schema_version, kind dkm.inspect)")


def _run_inspect(a: argparse.Namespace) -> int:
    from dkm.artifact import read

    data, manifest, _ = read(a.file)
    if a.json:
        # the manifest's own keys (format, version, model, layers, tensors) stay at the top level
        print(dumps(stamped("dkm.inspect", {"file": a.file, "nbytes": len(data), **manifest})))
        return 0
    print(f"{a.file}: {len(data)} bytes, model {manifest.get('model')!r}, format v{manifest['version']}, checksum and structure ok")
    print(f"{'layer':<24s}{'shape':<18s}{'K':>6s}{'s':>3s}{'N':>9s}{'bits':>5s}  {'encoding':<8s}{'index B':>9s}{'codebook B':>11s}")
    for e in manifest["layers"]:
        ix = e["indices"]
        print(f"{e['name']:<24s}{'x'.join(map(str, e['shape'])):<18s}{e['k']:>6d}{e['s']:>3d}{e['n']:>9d}"
              f"{ix['bits']:>5d}  {ix['encoding']:<8s}{ix['nbytes']:>9d}{e['codebook']['nbytes']:>11d}")
    raw = sum(t["nbytes"] for t in manifest["tensors"])
    print(f"{len(manifest['tensors'])} unshared tensors, {raw} bytes")
    return 0


COMMAND = Command("inspect", "print the contents of a .dkm artifact", _configure_inspect, _run_inspect)
