"""``energysim profiles from-accelergy ARCH... --ert ERT.yaml [--art ART.yaml] --out PROFILE.yaml``: one of our
hardware profiles built from a Timeloop architecture and the Accelergy ERT (and ART) made for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from energysim.cli import options
from energysim.errors import EnergySimError


def _cmd_from_accelergy(args: argparse.Namespace) -> int:
    import yaml

    from energysim.cli.outputs import write_file_atomic
    from energysim.interop.timeloop.accelergy import profile_from_accelergy

    out = Path(args.out)
    if out.is_dir():
        raise EnergySimError(f"--out {args.out!r} is a folder; give the profile file to write")
    if not out.parent.is_dir():
        raise EnergySimError(f"--out {args.out!r}: folder {str(out.parent)!r} does not exist")
    prof = profile_from_accelergy(args.arch, args.ert, args.art, name=args.name)
    data = prof.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
    text = ("# Built by `energysim profiles from-accelergy` (energies in pJ per block access, depth in words,\n"
            "# widths in bits, area in um^2).\n" + yaml.safe_dump(data, sort_keys=False))
    write_file_atomic(out, text)
    print(f"wrote profile {prof.name!r} ({len(prof.levels)} levels, {prof.mac.instances} MACs) to {out}",
          file=sys.stderr)
    return 0


def register_into(profiles_parser: argparse.ArgumentParser) -> None:
    """Add ``from-accelergy`` under ``energysim profiles`` (which still lists the shipped profiles alone)."""
    sub = profiles_parser.add_subparsers(dest="profiles_command", metavar="SUBCOMMAND")
    p = sub.add_parser("from-accelergy", help="build a profile YAML from a Timeloop architecture and the Accelergy "
                                              "ERT (and ART) made for it")
    p.add_argument("arch", nargs="+", metavar="ARCH",
                   help="Timeloop architecture files or folders (v4 nodes or v0.4 subtree)")
    p.add_argument("--ert", required=True, metavar="ERT.yaml", help="Accelergy energy reference table (pJ)")
    p.add_argument("--art", metavar="ART.yaml", help="Accelergy area reference table (um^2 per instance)")
    p.add_argument("--name", help="profile name (default: the architecture file's stem)")
    p.add_argument("--out", type=options.path_text, required=True, metavar="PROFILE.yaml",
                   help="the profile file to write (atomically)")
    p.set_defaults(func=_cmd_from_accelergy)
