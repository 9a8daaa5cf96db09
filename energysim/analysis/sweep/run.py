"""Evaluating the designs of a sweep: each design's profile, area and whole-network cost, in a local process
pool or on Dask (results identical either way)."""

from __future__ import annotations

import math
import signal
import sys
import time
from typing import Callable

import pandas as pd

from energysim.analysis.sweep.design import Design, make_profile
from energysim.arch import HardwareProfile, load_profile, unchanged_profiles
from energysim.arch.area import area_mm2
from energysim.errors import EnergySimError
from energysim.mapping.dataflow import DATAFLOW_NAMES, TEMPLATE_DATAFLOWS
from energysim.mapping.search import accel, search, warm
from energysim.mapping.search.tiling import remembered_pairs
from energysim.mapping.templates import map_problem
from energysim.model.counts import evaluate
from energysim.model.layer_energy import LayerEnergy
from energysim.model.problem import Problem
from energysim.model.streaming import applied_in_place, in_place_energy, streaming_energy

OBJECTIVES = ("energy", "cycles", "edp")


def network_cost(network, profile: HardwareProfile, objective: str = "energy",
                 dataflow: str = "search", skip_unsupported: bool = False) -> dict:
    """Energy (in the profile's unit), cycles and per-layer facts of ``network`` on ``profile``, every MAC layer
    mapped by search (``objective``), or by a dataflow template (rs-template, ..., nlr: the objective plays no part).
    ``skip_unsupported`` leaves out layers of kind ``unsupported`` instead of raising."""
    with unchanged_profiles():
        return _network_cost(network, profile, objective, dataflow, skip_unsupported)


def _network_cost(network, profile: HardwareProfile, objective: str, dataflow: str, skip_unsupported: bool) -> dict:
    energy, cycles, macs = 0.0, 0, 0
    for layer in network:
        producer = applied_in_place(network, layer)
        if producer:
            le = in_place_energy(layer, producer)
        elif layer.has_macs:
            problem = Problem.from_layer(layer)
            if dataflow in TEMPLATE_DATAFLOWS:
                stats = evaluate(problem, profile, map_problem(problem, profile, dataflow), name=layer.name)
            else:
                stats = search(problem, profile, dataflow, objective).stats
            le = LayerEnergy.from_stats(layer.name, layer.kind, stats, profile, layer.data_space_labels)
            macs += stats.macs
        elif layer.kind == "unsupported":
            if skip_unsupported:
                continue
            raise EnergySimError(f"layer {layer.name!r} is an unsupported op ({layer.op})")
        else:
            le = streaming_energy(layer, profile)
        energy += le.energy
        cycles += int(le.cycles)
    return {"energy": energy, "cycles": cycles, "macs": macs}


def evaluate_design(index: int, design: Design, network, base: dict, objective: str, dataflow: str,
                    skip_unsupported: bool = False) -> dict:
    """One row of the sweep table (never raises for a bad design: the error goes in the row)."""
    t0 = time.perf_counter()
    row = {"design": index, "label": design.label(),
           "pe_rows": design.pe[0] if design.pe else None, "pe_cols": design.pe[1] if design.pe else None,
           "glb_kb": design.glb_kb, "rf_words": design.rf_words, "bits": design.bits,
           "pes": None, "energy": math.nan, "cycles": math.nan, "area_mm2": math.nan, "edp": math.nan,
           "energy_unit": base.get("energy_unit", "pJ"), "status": "ok", "error": ""}
    try:
        prof = make_profile(HardwareProfile.model_validate(base), design)
        row["pes"] = prof.mac.instances
        row["area_mm2"] = area_mm2(prof)
        with remembered_pairs():  # the designs' searches share most of their tiling steps' remainders
            cost = network_cost(network, prof, objective, dataflow, skip_unsupported)
        row["energy"] = cost["energy"]
        row["cycles"] = cost["cycles"]
        row["edp"] = cost["energy"] * cost["cycles"]
    except EnergySimError as exc:
        row["status"] = "invalid" if row["pes"] is None else "unmappable"
        row["error"] = str(exc).replace("\n", "; ")
    row["seconds"] = time.perf_counter() - t0
    return row


# process-pool worker state (set once per worker by the initializer)
_STATE: dict = {}


def _init_worker(network, base, objective, dataflow, skip_unsupported=False):
    # Ctrl-C reaches the whole process group: the parent stops the sweep and reports it in one line, the workers
    # ignore it (else each prints a KeyboardInterrupt traceback)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STATE.update(network=network, base=base, objective=objective, dataflow=dataflow,
                  skip_unsupported=skip_unsupported)


def _run_in_worker(chunk: list[tuple[int, Design]]) -> list[dict]:
    s = _STATE
    return [evaluate_design(index, design, s["network"], s["base"], s["objective"], s["dataflow"],
                            s["skip_unsupported"]) for index, design in chunk]


def chunks(designs: list[Design], workers: int) -> list[list[tuple[int, Design]]]:
    """The (index, design) pairs in tasks for a pool of ``workers``: the designs of one PE array and word width
    together (they differ only in buffer sizes, so the counting engine's and the search's memos serve them all,
    ``counts.counting_key``), at most a quarter of each worker's share per task so the pool stays balanced."""
    size = max(1, -(-len(designs) // (4 * max(1, workers))))
    groups: dict[tuple, list[tuple[int, Design]]] = {}
    for i, d in enumerate(designs):
        groups.setdefault((d.pe, d.bits), []).append((i, d))
    return [g[a:a + size] for g in groups.values() for a in range(0, len(g), size)]


def _stop(ex) -> None:
    """Cancel the queued designs of a process pool and end its workers at once."""
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.terminate()
    for p in procs:
        p.join(timeout=10)
    # the pool's manager thread sees its workers gone and closes its wakeup pipe; wait for it, else Python's exit
    # hook (concurrent.futures' _python_exit, unlocked on 3.11) can write to that pipe as it closes and print a
    # traceback after our one-line message
    manager = getattr(ex, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(timeout=10)


def _dask_client(dask, workers: int):
    """(client, cleanup) for ``dask``: a Client, ``"local"`` or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise EnergySimError("--dask needs the dask extra: pip install 'deep-kmeans-energy[dask]'") from None
    if not isinstance(dask, str):
        return dask, lambda: None
    if dask == "local":
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        return client, lambda: (client.close(), cluster.close())
    try:
        client = Client(dask, timeout="5s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:  # ValueError: not an address at all
        raise EnergySimError(f"cannot reach Dask scheduler {dask!r}: {exc}") from None
    return client, client.close


def run_sweep(network, base: str | HardwareProfile, designs: list[Design], objective: str = "energy",
              dataflow: str = "search", workers: int = 1, dask=None,
              progress: Callable[[int, int, dict], None] | None = None,
              skip_unsupported: bool = False) -> pd.DataFrame:
    """Evaluate every design; a DataFrame with one row per design, in grid order. ``dataflow``: a mapping search
    (search; rs, ws, os constrained, also spelled rs-search, ...) or a template (rs-template, ..., nlr-template;
    nlr); ``skip_unsupported`` as in ``network_cost``."""
    if objective not in OBJECTIVES:
        raise EnergySimError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    if dataflow not in DATAFLOW_NAMES:
        raise EnergySimError(f"sweep dataflow {dataflow!r}: choose one of {list(DATAFLOW_NAMES)}")
    if not designs:
        raise EnergySimError("sweep: the design grid is empty")
    base_prof = load_profile(base)
    base_d = base_prof.model_dump(by_alias=True, exclude_none=True)
    n = len(designs)
    if dataflow not in TEMPLATE_DATAFLOWS and dask is None:
        # many searches ahead: the mapper's compiled kernels are loaded once here, and the pool's workers
        # (forked below) inherit them instead of each paying the load; they also share the mapper's memos of
        # what depends on the shapes and the PE array alone (spatial unrollings, divisor tables)
        accel.prefer()
    rows: list[dict] = []

    def done(r):
        rows.append(r)
        if progress:
            progress(len(rows), n, r)

    if dask is not None:
        client, cleanup = _dask_client(dask, workers)
        try:
            from distributed import as_completed

            net_f = client.scatter(network, broadcast=True)
            futs = [client.submit(evaluate_design, i, d, net_f, base_d, objective, dataflow, skip_unsupported,
                                  pure=False) for i, d in enumerate(designs)]
            for f in as_completed(futs):
                done(f.result())
        finally:
            cleanup()
    elif workers > 1 and n > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed as cf_done
        import multiprocessing as mp

        if dataflow not in TEMPLATE_DATAFLOWS:
            warm.before_fork()

        ctx = mp.get_context("spawn") if sys.platform == "darwin" else mp.get_context()
        ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(network, base_d, objective, dataflow, skip_unsupported))
        try:
            futs = [ex.submit(_run_in_worker, c) for c in chunks(designs, workers)]
            for f in cf_done(futs):
                for r in f.result():
                    done(r)
        except BaseException:
            _stop(ex)  # Ctrl-C or a failure: end now, not after the designs already handed to workers
            raise
        ex.shutdown()
    else:
        for i, d in enumerate(designs):
            done(evaluate_design(i, d, network, base_d, objective, dataflow, skip_unsupported))
    return pd.DataFrame(sorted(rows, key=lambda r: r["design"]))
