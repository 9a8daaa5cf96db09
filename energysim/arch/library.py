"""The hardware profiles shipped with energysim (YAML files in the repository's ``hw_profiles/`` folder, installed as
the package data ``energysim.hw_profiles``), and loading a profile by name or path."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from energysim.arch.profile import HardwareProfile
from energysim.errors import EnergySimError


def _profiles_dir():
    try:
        return importlib.resources.files("energysim.hw_profiles")
    except ModuleNotFoundError:
        # a source checkout used without installing (PYTHONPATH): the repository's hw_profiles/ folder, which an
        # install maps to the package energysim.hw_profiles
        return Path(__file__).resolve().parents[2] / "hw_profiles"


def list_profiles() -> list[str]:
    """Names of the profiles shipped with the package (the YAML files of ``energysim.hw_profiles``)."""
    return sorted(p.name[:-5] for p in _profiles_dir().iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | Path | HardwareProfile) -> HardwareProfile:
    """A shipped profile by name (``"eyeriss-32nm"``) or a profile YAML file by path."""
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    s = str(name_or_path)
    if not s.strip():
        raise EnergySimError(f"an empty hardware profile name; shipped profiles: {list_profiles()}")
    # a folder that happens to carry a shipped profile's name must not hide that profile
    if s.endswith((".yaml", ".yml")) or "/" in s or Path(s).is_file():
        return HardwareProfile.from_yaml(s)
    res = _profiles_dir() / f"{s}.yaml"
    if not res.is_file():
        raise EnergySimError(f"unknown hardware profile {s!r}; shipped profiles: {list_profiles()}")
    with importlib.resources.as_file(res) as p:
        return HardwareProfile.from_yaml(p)
