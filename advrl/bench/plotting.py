"""Figures for reports: a row of panels, saved atomically as PNG (headless backend)."""

from __future__ import annotations

import io
from pathlib import Path

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
