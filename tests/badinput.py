"""Shared by the bad-input suites (tests/test_bad_inputs*.py): run a command line in-process and check what a
user sees after a bad input: the exit status, one line on stderr naming the field and value, no traceback, and
the state of ``--out`` afterwards."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path


def run(main, argv, capsys) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_line(err: str, *needles: str) -> str:
    """The one line of ``err``; it starts with the program's name and holds every needle."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    line = lines[0]
    assert "Traceback" not in err and line.split(":")[0] in ("energysim", "dkm"), line
    for n in needles:
        assert n in line, f"{n!r} not in {line!r}"
    assert len(line) < 700, f"a {len(line)}-character line"
    return line


def expect_error(main, argv, capsys, *needles, rc=2, out: Path | None = None, before=None) -> str:
    """Run, expect exit ``rc`` with one line holding ``needles``; then ``out`` is as ``before`` (a snapshot of
    its files, see :func:`snapshot`; ``None`` = it must not exist), and no staging folder is left beside it."""
    code, _, err = run(main, argv, capsys)
    assert code == rc, f"exit {code} (expected {rc}); stderr: {err}"
    line = one_line(err, *needles)
    if out is not None:
        assert snapshot(out) == before, f"--out {out} changed"
        if out.parent.exists():
            assert not [p for p in out.parent.iterdir() if ".partial-" in p.name or p.name.startswith(".write-")]
    return line


def snapshot(folder: Path):
    """``None`` if ``folder`` does not exist, else {relative path: bytes} of every file under it."""
    if not folder.exists():
        return None
    if folder.is_file():
        return {"": folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def resign(data: bytes, mutate) -> bytes:
    """A ``.dkm`` artifact with its manifest changed by ``mutate(manifest)`` (in place, or returning raw bytes
    for the manifest) and a checksum that matches again: structure must be checked, not only the checksum."""
    (hlen,) = struct.unpack("<Q", data[4:12])
    manifest = json.loads(data[12:12 + hlen])
    payload = data[12 + hlen:-32]
    new = mutate(manifest)
    head = new if isinstance(new, bytes) else json.dumps(manifest).encode()
    body = data[:4] + struct.pack("<Q", len(head)) + head + payload
    return body + hashlib.sha256(body).digest()


def resign_raw(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()
