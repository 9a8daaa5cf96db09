"""The architecture stage: hardware profiles (the memory hierarchy and MAC array of an accelerator, validated by
pydantic), the shipped profiles, and a first-order area model."""

from energysim.arch.library import list_profiles, load_profile
from energysim.arch.profile import (
    DATA_SPACES,
    CodebookUnit,
    HardwareProfile,
    MacUnit,
    MapperSupport,
    SparsitySupport,
    StorageLevel,
)
from energysim.arch.held import unchanged_profiles

__all__ = ["CodebookUnit", "DATA_SPACES", "HardwareProfile", "MacUnit", "MapperSupport", "SparsitySupport", "StorageLevel",
           "list_profiles", "load_profile", "unchanged_profiles"]
