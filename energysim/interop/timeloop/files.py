"""Reading the files of a Timeloop case or spec: text that must be UTF-8, YAML that must hold a mapping at the
top. Every failure is one ``EnergySimError`` naming the file."""

from __future__ import annotations

from pathlib import Path

import yaml

from energysim.errors import EnergySimError


def read_text(path: str | Path) -> str:
    """The file's text; unreadable or non-UTF-8 files are one clear error."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EnergySimError(f"{str(p)!r} is not a UTF-8 text file") from None
    except OSError as exc:
        raise EnergySimError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None


def load_mapping(path: str | Path, loader=yaml.SafeLoader, what: str = "YAML") -> dict:
    """The YAML file ``path`` (read with ``loader``, a SafeLoader subclass) as a mapping; invalid YAML, an empty
    file or another top-level type is one clear error (``what`` names the expected format in it)."""
    p = Path(path)
    try:
        data = yaml.load(read_text(p), Loader=loader)  # noqa: S506 (SafeLoader or a subclass)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).strip().splitlines()[:3])
        raise EnergySimError(f"{str(p)!r} is not valid {what} (truncated?): {first}") from None
    if data is None:
        raise EnergySimError(f"{str(p)!r} is empty")
    if not isinstance(data, dict):
        raise EnergySimError(f"{str(p)!r}: expected a mapping at the top, got {type(data).__name__}")
    return data
