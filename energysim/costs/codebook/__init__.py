"""Codebook-aware weight costs: the facts a compressor hands over per shared layer (``CodebookRecord``) and the
hook that prices a layer whose weights are shared through a codebook (``CodebookCosts``)."""

from energysim.costs.codebook.costs import TERM_NAMES, CodebookCosts, CodebookTerms, distinct_codewords
from energysim.costs.codebook.record import CodebookRecord, records_by_layer

__all__ = ["CodebookCosts", "CodebookRecord", "CodebookTerms", "TERM_NAMES", "distinct_codewords",
           "records_by_layer"]
