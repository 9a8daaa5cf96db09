"""The user-facing errors of dkm: one line each, naming the layer/field and the offending value."""

from energysim.errors import EnergySimError


class DKMError(EnergySimError):
    """A bad input to dkm (the CLI prints it as one line and exits with status 2)."""


class ArtifactError(DKMError):
    """A `.dkm` file that is truncated, corrupted (checksum mismatch) or not a dkm artifact."""
