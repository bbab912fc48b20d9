"""Figures for reports: a row of panels, saved atomically as PNG (headless backend)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from advrl.zoo.checkpoint import atomic_write_bytes


def panels(n: int, width: float = 4.5, height: float = 3.6):
    """A figure with ``n`` side-by-side axes; returns ``(fig, axes)`` (axes is a list)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def save_png(fig, path: Path, tight: bool = False) -> None:
    """Write ``fig`` to ``path`` atomically and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def mean_curve(curves: list) -> np.ndarray:
    """The mean of curves (arrays of rows ``[x, y1, y2, ...]``), on the x of the longest.

    Curves of the same settings can still differ in length (a seed that finished fewer
    episodes has fewer points); those are interpolated rather than crashing ``np.stack``.

    Example:
        >>> mean_curve([[[0, 1.0], [2, 3.0]], [[0, 3.0], [1, 4.0], [2, 5.0]]]).tolist()
        [[0.0, 2.0], [1.0, 3.0], [2.0, 4.0]]
    """
    arrays = [np.asarray(c, dtype=float) for c in curves]
    x = max(arrays, key=len)[:, 0]
    ys = [
        np.column_stack([np.interp(x, a[:, 0], a[:, j]) for j in range(1, a.shape[1])])
        for a in arrays
    ]
    return np.column_stack([x, np.mean(ys, axis=0)])
