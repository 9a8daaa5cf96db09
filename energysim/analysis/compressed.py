"""Whole-network estimate of a codebook-compressed network: ``estimate`` with the codebook-aware weight costs of
``energysim.costs.codebook`` for the layers that have a codebook record."""

from __future__ import annotations

from typing import Literal

from energysim.analysis.estimate import estimate
from energysim.analysis.report import EnergyReport
from energysim.arch import HardwareProfile, load_profile
from energysim.costs.codebook.costs import CodebookCosts, CodebookTerms
from energysim.workload import Network


def estimate_compressed(
    network: Network, profile: str | HardwareProfile, records, dataflow: str = "rs", *,
    terms: CodebookTerms = CodebookTerms(), index_coding: Literal["fixed", "entropy"] = "fixed",
    mac_layers_only: bool = False,
) -> tuple[EnergyReport, CodebookCosts]:
    """The estimate of ``network`` with codebook-aware costs for the layers in ``records``.

    Returns the report and the hook (whose ``details`` hold the counts behind each term)."""
    prof = load_profile(profile)
    hook = CodebookCosts(records, terms, index_coding=index_coding, dataflow=dataflow)
    hook.check(network)
    hook.check_profile(prof)
    rep = estimate(network, prof, dataflow, hook=hook, mac_layers_only=mac_layers_only)
    return rep, hook
