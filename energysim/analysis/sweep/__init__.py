"""Design-space sweeps: size an accelerator (PE array, global buffer, register files, bit width) for a network.

A sweep takes a base profile and a grid of design values; every design is a modified copy of the base
profile, mapped layer by layer with the mapper (``energysim.mapping.search``; objective energy, cycles or edp) and
scored by total energy (in the profile's energy unit), cycles and area (mm^2, ``energysim.arch.area``). The result is a table of all designs
(invalid ones are kept with their error), the Pareto front over (energy, cycles, area), and the designs that
meet an energy / latency / area budget.

How a design value changes the base profile:

* ``pe = (rows, cols)``: the MAC array becomes ``cols`` (mesh X) x ``rows`` (mesh Y); every level whose mesh
  spans the full base array along an axis is resized along that axis (PE-level storage, array dummies).
* ``glb_kb``: depth of the global buffer (the largest single-instance on-chip level) in kB at its word
  width; a ``capacity_split`` is scaled in proportion.
* ``rf_words``: words per PE of PE-level storage (levels with one instance per MAC); several PE stores share
  it in the base profile's proportions (at least one word each).
* ``bits``: the datapath width. Physical widths stay the same: capacities in bits, block widths in bits and
  bandwidths in bits per cycle are kept, so words per block / depth / bandwidth change by old/new bits; the
  energy of one block access is kept when the block width in bits is kept, else scaled by bits moved. Levels
  with a wider word than the base (e.g. 16-bit partial sums over 8-bit data) keep that ratio. MAC energy:
  ``mac.energy_pj_by_bits`` when it has the width, else scaled by (new/old)^2 (multiplier-dominated).

Designs run in a local process pool (``workers``) or on a Dask distributed scheduler (``dask``: an address, a
``distributed.Client``, or ``"local"`` for a LocalCluster); results are identical either way.
"""

from energysim.analysis.sweep.design import Design, check_grid, make_grid, make_profile, parse_pe
from energysim.analysis.sweep.pareto import PARETO_COLUMNS, pareto_front, plot_pareto, within_budget, write_outputs
from energysim.analysis.sweep.run import OBJECTIVES, evaluate_design, network_cost, run_sweep

__all__ = ["Design", "OBJECTIVES", "check_grid", "PARETO_COLUMNS", "evaluate_design", "make_grid", "make_profile", "network_cost",
           "parse_pe", "pareto_front", "plot_pareto", "run_sweep", "within_budget", "write_outputs"]
