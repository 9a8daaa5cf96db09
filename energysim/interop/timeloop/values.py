"""Values read from Timeloop inputs and references: numbers and lists of names, checked where they are read.
A boolean is never a number (YAML reads ``true`` as one), and NaN or infinity never passes a bound, so each
bad value is one ``EnergySimError`` naming the file, the key path and the value, never a silent default."""

from __future__ import annotations

import math

from energysim.errors import EnergySimError
from energysim.interop.timeloop.keys import show


def number(v, source: str, where: str, least=None, above=None, whole: bool = False, strings: bool = False):
    """``v`` as a finite number (an ``int`` when ``whole``: an integral value), ``>= least`` and ``> above``
    where given. ``strings``: a numeric string is read as its number (PyYAML reads ``1e-9`` as a string)."""
    x = as_number(v, least, above, whole, strings)
    if x is None:
        raise EnergySimError(f"{source}: {where!r} = {show(v)} must be {wanted(least, above, whole)}")
    return x


def as_number(v, least=None, above=None, whole: bool = False, strings: bool = False):
    """``number``'s value, or None where ``v`` is not such a number."""
    x = v
    if strings and isinstance(v, str):
        for parse in (int, float):
            try:
                x = parse(v)
                break
            except ValueError:
                continue
    if isinstance(x, bool) or not isinstance(x, (int, float)) or (isinstance(x, float) and not math.isfinite(x)):
        return None
    if (whole and x != int(x)) or (least is not None and x < least) or (above is not None and x <= above):
        return None
    try:
        return int(x) if whole else float(x)
    except OverflowError:  # an integer too large for a float
        return None


def wanted(least=None, above=None, whole: bool = False) -> str:
    """What ``number`` requires, in words (``an integer >= 1``)."""
    bounds = [f">= {least}"] * (least is not None) + [f"> {above}"] * (above is not None)
    return " ".join(["an integer" if whole else "a finite number", *bounds])


def names(v, source: str, where: str) -> list[str]:
    """A list of names (``keep`` / ``bypass`` data spaces); absent is empty. A bare string is an error, not
    its letters."""
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise EnergySimError(f"{source}: {where!r} = {show(v)} must be a list of names")
    return list(v)
