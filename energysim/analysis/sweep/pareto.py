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


def plot_pareto(df: pd.DataFrame, front: pd.DataFrame, path: str | Path | None = None, title: str = "",
                energy_label: str = "\u00b5J", ax=None):
    """Energy vs cycles and energy vs area (colour = the third), the Pareto front circled; two panels on ``ax``
    (a pair of Axes; a new figure when ``None``). Returns the Figure; writes a PNG only when given ``path``."""
    if ax is None:
        if path is not None:  # only written: no pyplot, no display, no open figure left behind
            from matplotlib.figure import Figure

            fig = Figure(figsize=(10, 4.2), layout="constrained")
        else:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(10, 4.2), layout="constrained")
        axes = fig.subplots(1, 2)
    else:
        axes = list(ax)
        if len(axes) != 2:
            raise ValueError(f"plot_pareto draws two panels: ax must be two Axes, got {len(axes)}")
        fig = axes[0].figure
    ok = df[df["status"] == "ok"]
    for ax_, (xcol, xlabel) in zip(axes, (("cycles", "latency (cycles)"), ("area_mm2", "area (mm$^2$)"))):
        sc = ax_.scatter(ok[xcol], ok["energy"] / 1e6, c=ok["area_mm2"] if xcol == "cycles" else ok["cycles"],
                         cmap="viridis", s=18, alpha=0.8, linewidths=0)
        ax_.scatter(front[xcol], front["energy"] / 1e6, facecolors="none", edgecolors="crimson", s=60,
                    linewidths=1.2, label="Pareto (energy, cycles, area)")
        ax_.set_xlabel(xlabel)
        ax_.set_ylabel(f"energy ({energy_label})")
        xs = ok[xcol].to_numpy(dtype=float)
        if len(xs) and xs.min() > 0 and xs.max() / xs.min() > 20:
            ax_.set_xscale("log")
        if ax_.get_xscale() == "linear":
            ax_.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax_.grid(alpha=0.3, which="both")
        cb = fig.colorbar(sc, ax=ax_)
        cb.set_label("area (mm$^2$)" if xcol == "cycles" else "cycles")
        ax_.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(Path(path), dpi=200)
    return fig


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
