"""Figures for energy reports, written to files (Agg backend; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from energysim.analysis.report import EnergyReport  # noqa: E402

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_PALETTE = plt.get_cmap("tab10").colors


def _components(report: EnergyReport, by: str) -> tuple[list[str], dict[str, np.ndarray]]:
    names = [l.name for l in report.layers]
    series: dict[str, np.ndarray] = {}
    for i, l in enumerate(report.layers):
        parts = dict(l.energy_by_level if by == "level" else l.energy_by_dataspace)
        parts["compute"] = l.compute_energy
        for term, e in l.extra.items():
            parts[term] = parts.get(term, 0.0) + e
        for k, v in parts.items():
            series.setdefault(k, np.zeros(len(names)))[i] = v
    return names, {k: v for k, v in series.items() if np.any(v)}


def _stacked(ax, names, series, scale, title, unit="uJ"):
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for i, (k, v) in enumerate(series.items()):
        ax.bar(x, v * scale, bottom=bottom, label=k, color=_PALETTE[i % 10], width=0.8)
        bottom += v * scale
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=6 if len(names) > 30 else 8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel(f"energy ({unit})")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, ncol=2)


def _layers_for_plot(report: EnergyReport, only_mac_layers: bool) -> EnergyReport:
    if not only_mac_layers:
        return report
    keep = [l for l in report.layers if l.macs > 0]
    return EnergyReport(report.network, report.profile, report.dataflow, report.batch, keep, report.energy_unit)


def plot_breakdown(report: EnergyReport, path: str | Path, by: str = "level", only_mac_layers: bool = False) -> Path:
    """Per-layer stacked energy, split by memory level (``by='level'``) or data space (``by='dataspace'``)."""
    if by not in ("level", "dataspace"):
        raise ValueError(f"by must be 'level' or 'dataspace', got {by!r}")
    # a bar per layer stays readable up to ~60 bars; beyond that only MAC layers are drawn
    rep = _layers_for_plot(report, only_mac_layers or len(report.layers) > 60)
    names, series = _components(rep, by)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.22 * len(names) + 2)), 4.2))
        _stacked(ax, names, series, 1e-6, f"{report.network} on {report.profile} ({report.dataflow}): energy by {by}",
                 report.mega_unit)
        fig.tight_layout()
        fig.savefig(path, dpi=200)
        plt.close(fig)
    return Path(path)


def plot_level_share(report: EnergyReport, path: str | Path) -> Path:
    """Share of total energy per memory level (and compute), as a horizontal bar chart."""
    parts = {k: v for k, v in report.energy_by_level().items() if v > 0}
    total = sum(parts.values()) or 1.0
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5.0, 0.35 * len(parts) + 1.2))
        keys = list(parts)[::-1]
        vals = [100 * parts[k] / total for k in keys]
        ax.barh(keys, vals, color=[_PALETTE[i % 10] for i in range(len(keys))][::-1])
        for y, v in enumerate(vals):
            ax.text(v + 0.5, y, f"{v:.1f}%", va="center", fontsize=8)
        ax.set_xlabel("share of total energy (%)")
        ax.set_xlim(0, max(vals) * 1.18 if vals else 1)
        ax.set_title(f"{report.network}: {report.total_energy / 1e6:,.2f} {report.mega_unit} total")
        fig.tight_layout()
        fig.savefig(path, dpi=200)
        plt.close(fig)
    return Path(path)


def plot_side_by_side(
    dense: EnergyReport, other: EnergyReport, path: str | Path, labels=("dense", "compressed"), by: str = "level"
) -> Path:
    """Two per-layer breakdowns on a shared y axis (e.g. dense vs codebook-compressed), MAC layers only."""
    a, b = _layers_for_plot(dense, True), _layers_for_plot(other, True)
    na, sa = _components(a, by)
    nb, sb = _components(b, by)
    keys = list(dict.fromkeys([*sa, *sb]))
    colors = {k: _PALETTE[i % 10] for i, k in enumerate(keys)}
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.45 * len(na) + 2)), 4.2))
        x = np.arange(len(na))
        w = 0.4
        for off, series, hatch in ((-w / 2, sa, None), (w / 2, sb, "//")):
            bottom = np.zeros(len(na))
            for k in keys:
                v = series.get(k, np.zeros(len(na))) * 1e-6
                ax.bar(x + off, v, w * 0.95, bottom=bottom, color=colors[k], hatch=hatch, edgecolor="white",
                       linewidth=0.3, label=k if off < 0 else None)
                bottom += v
        ax.set_xticks(x)
        ax.set_xticklabels(na, rotation=90)
        ax.set_ylabel(f"energy ({dense.mega_unit})")
        ax.set_title(f"{dense.network}: {labels[0]} (left, plain) vs {labels[1]} (right, hatched)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(frameon=False, ncol=2)
        fig.tight_layout()
        fig.savefig(path, dpi=200)
        plt.close(fig)
    return Path(path)


def write_figures(report: EnergyReport, out_dir: str | Path, stem: str | None = None) -> list[Path]:
    """The three standard figures of a report, as PNG files in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or report.network
    return [
        plot_breakdown(report, out / f"{stem}_energy_by_level.png", "level"),
        plot_breakdown(report, out / f"{stem}_energy_by_dataspace.png", "dataspace"),
        plot_level_share(report, out / f"{stem}_level_share.png"),
    ]
