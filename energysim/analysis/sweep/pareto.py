"""The Pareto front and the budget filter of a sweep's table, and its outputs (CSV tables and the Pareto figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PARETO_COLUMNS = ("energy", "cycles", "area_mm2")


def pareto_front(df: pd.DataFrame, columns=PARETO_COLUMNS) -> pd.DataFrame:
    """Rows (status ok) not dominated in ``columns`` (all minimized); duplicates of a point all stay."""
    ok = df[df["status"] == "ok"]
    if ok.empty:
        return ok.copy()
    v = ok[list(columns)].to_numpy(dtype=float)
    le = (v[:, None, :] <= v[None, :, :]).all(axis=2)
    lt = (v[:, None, :] < v[None, :, :]).any(axis=2)
    dominated = (le & lt).any(axis=0)
    return ok[~dominated].sort_values(list(columns)).copy()


def within_budget(df: pd.DataFrame, max_energy=None, max_cycles=None, max_area_mm2=None) -> pd.DataFrame:
    ok = df[df["status"] == "ok"]
    m = np.ones(len(ok), dtype=bool)
    if max_energy is not None:
        m &= ok["energy"].to_numpy() <= max_energy
    if max_cycles is not None:
        m &= ok["cycles"].to_numpy() <= max_cycles
    if max_area_mm2 is not None:
        m &= ok["area_mm2"].to_numpy() <= max_area_mm2
    return ok[m].copy()


def plot_pareto(df: pd.DataFrame, front: pd.DataFrame, path: str | Path, title: str = "",
                energy_label: str = "\u00b5J") -> Path:
    """Energy vs cycles (colour = area) with the Pareto front marked; PNG at 200 dpi."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    for ax, (xcol, xlabel) in zip(axes, (("cycles", "latency (cycles)"), ("area_mm2", "area (mm$^2$)"))):
        sc = ax.scatter(ok[xcol], ok["energy"] / 1e6, c=ok["area_mm2"] if xcol == "cycles" else ok["cycles"],
                        cmap="viridis", s=18, alpha=0.8, linewidths=0)
        ax.scatter(front[xcol], front["energy"] / 1e6, facecolors="none", edgecolors="crimson", s=60,
                   linewidths=1.2, label="Pareto (energy, cycles, area)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"energy ({energy_label})")
        xs = ok[xcol].to_numpy(dtype=float)
        if len(xs) and xs.min() > 0 and xs.max() / xs.min() > 20:
            ax.set_xscale("log")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4)) if ax.get_xscale() == "linear" else None
        ax.grid(alpha=0.3, which="both")
        cb = fig.colorbar(sc, ax=ax)
        cb.set_label("area (mm$^2$)" if xcol == "cycles" else "cycles")
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return path


def write_outputs(out: str | Path, df: pd.DataFrame, front: pd.DataFrame, budget: pd.DataFrame,
                  title: str = "", energy_label: str = "\u00b5J") -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"designs": out / "designs.csv", "pareto": out / "pareto.csv", "budget": out / "budget.csv",
             "figure": out / "pareto.png"}
    df.to_csv(paths["designs"], index=False)
    front.to_csv(paths["pareto"], index=False)
    budget.to_csv(paths["budget"], index=False)
    plot_pareto(df, front, paths["figure"], title, energy_label)
    return paths
