"""Figures of energy reports, as a library: every plot function draws on ``ax`` (a new figure when ``None``),
returns the matplotlib Axes, and writes a file only when given ``path``.

No backend is chosen here: matplotlib's own choice applies (inline in Jupyter, Agg where there is no display).
A figure made only to be written to ``path`` is built without pyplot, so writing files needs no display and
leaves no open figures behind.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


class _Palette:
    """matplotlib's tab10 colours, looked up when a figure is drawn: importing this module (as ``estimate``
    does, figures or not) does not import matplotlib."""

    def __getitem__(self, i):
        import matplotlib

        return matplotlib.colormaps["tab10"].colors[i]


_PALETTE = _Palette()


def _rc_context(style):
    import matplotlib

    return matplotlib.rc_context(style)


def _axes(ax, figsize, path):
    """``ax`` or a new Axes; a new figure comes from pyplot (so notebooks show it) unless it is only written."""
    if ax is not None:
        return ax, False
    if path is not None:
        from matplotlib.figure import Figure

        return Figure(figsize=figsize).subplots(), True
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1], True


def _finish(ax, created: bool, path):
    if created:
        ax.figure.tight_layout()
    if path is not None:
        ax.figure.savefig(path, dpi=200)
    return ax


def _components(report, by: str) -> tuple[list[str], dict[str, np.ndarray]]:
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


def _layers_for_plot(report, only_mac_layers: bool):
    if not only_mac_layers:
        return report
    return replace(report, layers=[l for l in report.layers if l.macs > 0])


def plot_breakdown(report, path: str | Path | None = None, by: str = "level", only_mac_layers: bool = False,
                   ax=None):
    """Per-layer stacked energy of an ``EnergyReport``, split by memory level (``by='level'``) or data space
    (``by='dataspace'``); returns the Axes."""
    if by not in ("level", "dataspace"):
        raise ValueError(f"by must be 'level' or 'dataspace', got {by!r}")
    # a bar per layer stays readable up to ~60 bars; beyond that only MAC layers are drawn
    rep = _layers_for_plot(report, only_mac_layers or len(report.layers) > 60)
    names, series = _components(rep, by)
    with _rc_context(_STYLE):
        ax, created = _axes(ax, (min(16.0, max(6.0, 0.22 * len(names) + 2)), 4.2), path)
        _stacked(ax, names, series, 1e-6, f"{report.network} on {report.profile} ({report.dataflow}): energy by {by}",
                 report.mega_unit)
        return _finish(ax, created, path)


def plot_level_share(report, path: str | Path | None = None, ax=None):
    """Share of an ``EnergyReport``'s total energy per memory level (and compute), as horizontal bars; returns
    the Axes."""
    parts = {k: v for k, v in report.energy_by_level().items() if v > 0}
    total = sum(parts.values()) or 1.0
    with _rc_context(_STYLE):
        ax, created = _axes(ax, (5.0, 0.35 * len(parts) + 1.2), path)
        keys = list(parts)[::-1]
        vals = [100 * parts[k] / total for k in keys]
        ax.barh(keys, vals, color=[_PALETTE[i % 10] for i in range(len(keys))][::-1])
        for y, v in enumerate(vals):
            ax.text(v + 0.5, y, f"{v:.1f}%", va="center", fontsize=8)
        ax.set_xlabel("share of total energy (%)")
        ax.set_xlim(0, max(vals) * 1.18 if vals else 1)
        ax.set_title(f"{report.network}: {report.total_energy / 1e6:,.2f} {report.mega_unit} total")
        return _finish(ax, created, path)


def plot_side_by_side(dense, other, path: str | Path | None = None, labels=("dense", "compressed"),
                      by: str = "level", ax=None):
    """Two per-layer breakdowns (e.g. dense vs codebook-compressed ``EnergyReport``) on one y axis, MAC layers
    only; returns the Axes."""
    a, b = _layers_for_plot(dense, True), _layers_for_plot(other, True)
    na, sa = _components(a, by)
    nb, sb = _components(b, by)
    keys = list(dict.fromkeys([*sa, *sb]))
    colors = {k: _PALETTE[i % 10] for i, k in enumerate(keys)}
    with _rc_context(_STYLE):
        ax, created = _axes(ax, (min(16.0, max(6.0, 0.45 * len(na) + 2)), 4.2), path)
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
        return _finish(ax, created, path)


FIGURES = ("energy_by_level", "energy_by_dataspace", "level_share")


def write_figures(report, out_dir: str | Path, stem: str | None = None) -> list[Path]:
    """The three standard figures of a report as PNG files in ``out_dir``: ``STEM_energy_by_level.png``,
    ``STEM_energy_by_dataspace.png``, ``STEM_level_share.png``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or report.network
    paths = [out / f"{stem}_{f}.png" for f in FIGURES]
    plot_breakdown(report, paths[0], "level")
    plot_breakdown(report, paths[1], "dataspace")
    plot_level_share(report, paths[2])
    return paths
