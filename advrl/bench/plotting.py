"""Figures for reports, all drawn through :class:`Panels` so that every PNG reads the same way.

A figure is a grid of panels that share one legend: a label keeps one colour and marker in
every panel, so the legend names it once. Means are drawn with markers (a single point stays
visible) and their spread as error bars or a band; :meth:`Panels.finish` adds the legend and
a title naming the env, the episodes and the seeds, and returns the matplotlib ``Figure``,
so tests inspect what a report saves. :func:`save_png` writes it atomically (headless
backend).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from advrl.zoo.checkpoint import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
REFERENCE = "reference"
"""``gid`` of horizontal reference lines (a clean return): a level, so it needs no marker."""


class Panels:
    """A ``rows x cols`` grid of axes (constrained layout) whose labels share one legend.

    Example:
        >>> panels = Panels(2)
        >>> _ = panels.line(0, [0.0], [10.0], "pgd").line(1, [0.0], [3.0], "pgd")
        >>> for ax in panels.axes:
        ...     _ = ax.set(xlabel="eps", ylabel="return")
        >>> fig = panels.finish("CartPole-v1 · 2 episodes · 1 seed")
        >>> len(fig.legends), [t.get_text() for t in fig.legends[0].get_texts()]
        (1, ['pgd'])
    """

    def __init__(
        self, cols: int, rows: int = 1, *, width: float = 4.5, height: float = 3.6
    ) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.fig, grid = plt.subplots(rows, cols, figsize=(width * cols, height * rows),
                                      squeeze=False, layout="constrained")  # fmt: skip
        self.grid = grid
        self.axes = list(grid.flat)
        self._styles: dict[str, dict[str, str]] = {}
        self._handles: dict[str, object] = {}
        self._colours = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]

    def _ax(self, ax):
        return self.axes[ax] if isinstance(ax, int) else ax

    def style(self, label: str) -> dict[str, str]:
        """The colour and marker of ``label``, the same in every panel."""
        if label not in self._styles:
            i = len(self._styles)
            colour = self._colours[i % len(self._colours)]
            self._styles[label] = {"color": colour, "marker": MARKERS[i % len(MARKERS)]}
        return self._styles[label]

    def line(
        self, ax, x: Sequence[float], y: Sequence[float], label: str, *,
        err: Sequence[float] | np.ndarray | None = None, band: bool = False, join: bool = True,
    ) -> Panels:  # fmt: skip
        """Means ``y`` at ``x`` with markers; ``err`` (symmetric ``(n,)`` or ``(2, n)`` below
        and above) as error bars, or as a shaded band when ``band`` (dense curves). ``join``
        False leaves the points unconnected (categories on the x axis)."""
        ax, style = self._ax(ax), {**self.style(label), "linestyle": "-" if join else "none"}
        x, y = np.asarray(x, float), np.asarray(y, float)
        if err is not None and not band:
            bars = ax.errorbar(x, y, yerr=np.asarray(err, float), capsize=3, markersize=5,
                               label=label, **style)  # fmt: skip
            handle = bars
        else:
            (handle,) = ax.plot(x, y, markersize=4 if len(x) > 12 else 5, label=label, **style)
            if err is not None:
                low, high = _below_above(y, err)
                ax.fill_between(x, low, high, color=style["color"], alpha=0.2, linewidth=0)
        self._handles.setdefault(label, handle)
        return self

    def reference(self, ax, y: float, label: str) -> Panels:
        """A dashed horizontal level (a clean or reference return) across the panel."""
        ax = self._ax(ax)
        colour = "grey" if label == "clean" else self.style(label)["color"]
        handle = ax.axhline(y, color=colour, linestyle="--", linewidth=1, label=label,
                            gid=REFERENCE)  # fmt: skip
        self._handles.setdefault(label, handle)
        return self

    def finish(self, title: str, grid: bool = True) -> Figure:
        """Add the one legend (below the panels), the title and (unless not ``grid``, as for
        heatmaps) grid lines; return the figure."""
        for ax in self.axes if grid else ():
            ax.grid(alpha=0.3)
        if self._handles:
            labels = list(self._handles)
            self.fig.legend([self._handles[k] for k in labels], labels, loc="outside lower center",
                            ncols=min(len(labels), 3 if len(self.axes) < 3 else 4),
                            fontsize=8)  # fmt: skip
        self.fig.suptitle(_wrap(title, max(60, int(13 * self.fig.get_figwidth()))), fontsize=10)
        return self.fig


def _wrap(title: str, width: int) -> str:
    """``title`` in lines of at most ``width`` characters, broken only between its
    `` · ``-separated parts (a part longer than a line gets a line of its own)."""
    lines: list[str] = []
    for part in title.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def _below_above(y: np.ndarray, err) -> tuple[np.ndarray, np.ndarray]:
    err = np.asarray(err, float)
    if err.ndim == 2:
        return y - err[0], y + err[1]
    return y - err, y + err


def save_png(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` atomically and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def curve_stats(curves: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, mean, std)`` over curves (arrays of rows ``[x, y1, y2, ...]``), on the x of the
    longest; ``mean`` and ``std`` (over the curves, ddof 0) have a column per ``y``.

    Curves of the same settings can still differ in length (a seed that finished fewer
    episodes has fewer points); those are interpolated onto the longest one's x.

    Example:
        >>> x, mean, std = curve_stats([[[0, 1.0], [2, 3.0]], [[0, 3.0], [1, 4.0], [2, 5.0]]])
        >>> x.tolist(), mean[:, 0].tolist(), std[:, 0].tolist()
        ([0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    """
    arrays = [np.asarray(c, dtype=float) for c in curves]
    x = max(arrays, key=len)[:, 0]
    ys = np.stack([
        np.column_stack([np.interp(x, a[:, 0], a[:, j]) for j in range(1, a.shape[1])])
        for a in arrays
    ])  # fmt: skip
    return x, ys.mean(axis=0), ys.std(axis=0)


def curve_band(curves: list, stds: list | None = None):
    """``(x, mean, err)`` for a line of one or more runs' curves (:func:`curve_stats`): the
    std over the runs when there are several; for a single run, its own spread ``stds[0]``
    (rows of a std per ``y``, e.g. over the episodes behind each point) if it has one; else
    ``err`` is None.

    Example:
        >>> x, mean, err = curve_band([[[0, 1.0], [1, 3.0]]], stds=[[[0.5], [0.25]]])
        >>> mean[:, 0].tolist(), err[:, 0].tolist()
        ([1.0, 3.0], [0.5, 0.25])
    """
    x, mean, std = curve_stats(curves)
    if len(curves) > 1:
        return x, mean, std
    if stds and stds[0] is not None and len(stds[0]) == len(x):
        return x, mean, np.asarray(stds[0], float).reshape(len(x), -1)
    return x, mean, None


def pooled_std(means: Sequence[float], stds: Sequence[float], counts: Sequence[int]) -> float:
    """The std of all episodes of several runs, from each run's mean, std and episode count
    (the total variance: within-run plus between-run).

    Example:
        >>> pooled_std([0.0, 2.0], [0.0, 0.0], [1, 1])  # two one-episode runs: 0 and 2
        1.0
    """
    m, s, n = (np.asarray(v, float) for v in (means, stds, counts))
    mean = np.sum(n * m) / np.sum(n)
    return float(np.sqrt(np.sum(n * (s**2 + (m - mean) ** 2)) / np.sum(n)))
