"""Figures through matplotlib (Agg, no display): PNG bytes, embedded in Dagster metadata as Markdown images and
written under ``docs/`` by the benchmark scripts. One helper per kind of figure; later figures reuse them."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display anywhere this runs
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def training_curves_png(
    x: Sequence[float], series: Mapping[str, Sequence[float]], title: str, x_label: str = "epoch"
) -> bytes:
    """One panel per series on a shared x axis (losses and recalls have different scales)."""
    return _png(training_curves_figure(x, series, title, x_label))


def training_curves_figure(
    x: Sequence[float], series: Mapping[str, Sequence[float]], title: str, x_label: str = "epoch"
):
    """The figure of :func:`training_curves_png`; epochs get whole-number ticks (never 1.5, 2.5, …)."""
    n = max(len(series), 1)
    fig, axes = plt.subplots(n, 1, figsize=(6.4, 1.9 * n + 0.6), sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], series.items(), strict=False):
        ax.plot(list(x)[: len(values)], list(values), marker="." if len(values) < 40 else None, linewidth=1.5)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(x_label)
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_title(title)
    return fig


def lines_png(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    x_label: str,
    y_label: str,
    log: bool = False,
) -> bytes:
    """Several series on one axis, e.g. test R@20 against the noise ratio for each method. A missing value (NaN)
    is skipped and the line joins the points on either side; the legend sits right of the axis, off the data.
    ``log``: both axes logarithmic (cost against size)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    for name, values in series.items():
        points = [(a, v) for a, v in zip(x, values, strict=False) if not math.isnan(v)]
        ax.plot([a for a, _ in points], [v for _, v in points], marker="o", label=name)
    ax.set(title=title, xlabel=x_label, ylabel=y_label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)


def bars_png(
    values: Mapping[str, float], title: str, y_label: str, errors: Mapping[str, float] | None = None
) -> bytes:
    """One bar per name (with optional ± error), e.g. methods' test R@20."""
    fig, ax = plt.subplots(figsize=(max(6.4, 0.7 * len(values)), 4.0))
    names = list(values)
    ax.bar(names, [values[k] for k in names], yerr=[(errors or {}).get(k, 0.0) for k in names], capsize=3)
    ax.set(title=title, ylabel=y_label)
    ax.tick_params(axis="x", rotation=30)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def png_markdown(png: bytes, alt: str) -> str:
    """A Markdown image the Dagster UI renders inline."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
