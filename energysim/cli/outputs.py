"""Output folders and JSON for both command lines: ``--out`` checked before any long work, folders written
atomically, JSON that is always valid JSON.

``atomic_output_dir(out)`` hands out an empty staging folder beside ``out`` (``.NAME.partial-XXXX``); when the
``with`` block ends normally its files move into place, else the staging folder is removed. A new ``out``
appears whole (one rename); in an ``out`` that already exists each file is replaced by a rename (other files
there are left alone), with Ctrl-C held back until the last one has moved. So an interrupted or failed run
leaves the previous complete set of files, or no folder at all, never a mix of old and new files.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from energysim.analysis.schema import dumps, finite_json  # noqa: F401  (re-exported for the CLIs)
from energysim.errors import EnergySimError


def check_out(out: str | os.PathLike, flag: str = "--out") -> Path:
    """``out`` as a ``Path`` if it is, or can become, a writable folder; else ``EnergySimError`` naming it.
    Creates nothing (a probe folder is made and removed where ``out`` would be written)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise EnergySimError(f"{flag} {str(out)!r} exists and is not a folder")
    anc = path
    while not anc.exists():
        if anc.is_symlink():  # a dangling link: mkdir would fail on it
            raise EnergySimError(f"{flag} {str(out)!r}: {str(anc)!r} is a broken symbolic link")
        anc = anc.parent
    if not anc.is_dir():
        raise EnergySimError(f"{flag} {str(out)!r} cannot be created: {str(anc)!r} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=anc))
    except OSError as exc:
        raise EnergySimError(f"{flag} {str(out)!r} cannot be written: {exc.strerror or exc}") from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Ctrl-C during the block is raised when it ends (only the main thread receives signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda *a: got.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got:
        raise KeyboardInterrupt


def _commit(stage: Path, out: Path) -> None:
    if not out.is_dir():
        os.replace(stage, out)
        return
    for entry in sorted(stage.iterdir()):
        target = out / entry.name
        if entry.is_dir() and target.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{entry.name}.old-", dir=out))
            os.replace(target, old / entry.name)
            os.replace(entry, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    stage.rmdir()


@contextmanager
def atomic_output_dir(out: str | os.PathLike, flag: str = "--out") -> Iterator[Path]:
    """Write an output folder atomically (see the module docstring): ``with atomic_output_dir(out) as tmp:``
    and write into ``tmp``; the files are at ``out`` after the block."""
    out = check_out(out, flag)
    made = []  # parent folders this call creates, removed again if the run fails
    p = out.parent
    while not p.exists():
        made.append(p)
        p = p.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    os.chmod(stage, 0o777 & ~_umask())  # mkdtemp's 0700 would become the folder's mode after the rename
    try:
        yield stage
        with _sigint_held():
            _commit(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for d in made:
            try:
                d.rmdir()
            except OSError:
                break
        raise


def in_place(paths, stage: Path, out: Path):
    """Paths under the staging folder as they will be once moved to ``out`` (a list, or a dict's values)."""
    move = lambda p: Path(out) / Path(p).relative_to(stage)  # noqa: E731
    if isinstance(paths, dict):
        return {k: move(v) for k, v in paths.items()}
    return [move(p) for p in paths]


def write_json(path: str | os.PathLike, obj, indent: int | None = 1) -> Path:
    """Write :func:`dumps` of ``obj`` to ``path`` (with a final newline)."""
    path = Path(path)
    path.write_text(dumps(obj, indent) + "\n")
    return path


def write_file_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text or bytes) to the file ``path`` whole or not at all: to a temporary sibling, then one
    rename."""
    path = Path(path)
    if not path.parent.is_dir():
        raise EnergySimError(f"{str(path)!r}: folder {str(path.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as a plain open() would (mkstemp makes it 0600)
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
