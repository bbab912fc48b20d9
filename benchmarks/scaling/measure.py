"""What every scaling curve shares: two clocks, medians over repeats, slopes, the reports.

A curve is a set of series (one per configuration) measured at the same x values. Each
measurement is a :class:`Timing` of one unit of work (``work`` items: env steps, episodes);
the reports show, per series and x, the median over repeats of the seconds and of the rate
``work / seconds`` by both clocks: the wall clock and this process's CPU time, which other
tenants of a shared machine barely disturb (everything timed here runs in one thread, except
where a curve says otherwise).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advrl.bench.plotting import Panels, save_png
from advrl.zoo.checkpoint import atomic_write_bytes

CLOCKS = ("cpu", "wall")


@dataclass(frozen=True)
class Timing:
    """Seconds of one measurement by the wall clock and by CPU time, and the work it did."""

    wall: float
    cpu: float
    work: float

    def seconds(self, clock: str) -> float:
        return self.cpu if clock == "cpu" else self.wall

    def rate(self, clock: str) -> float:
        return self.work / self.seconds(clock)


def timed(fn: Callable[[], float | None], work: float = 1.0) -> Timing:
    """Time one call of ``fn``; if it returns a number, that is the work it did."""
    wall, cpu = time.perf_counter(), time.process_time()
    done = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Timing(wall, max(cpu, 1e-9), float(done) if done is not None else work)


def timed_loop(fn: Callable[[], object], min_seconds: float = 0.2) -> Timing:
    """Per-call seconds of a fast ``fn``, called until ``min_seconds`` of wall time pass."""
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while calls == 0 or time.perf_counter() - wall < min_seconds:
        fn()
        calls += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Timing(wall / calls, max(cpu, 1e-9) / calls, 1.0)


@dataclass
class Curve:
    """One scaling curve: series of timings at each x, and how to show them.

    ``plot`` is ``"rate"`` (work per second, e.g. env-steps/s) or ``"seconds"`` (time per
    measurement, e.g. certification time); either way on log-log axes unless ``log_x`` is
    False (a handful of categories such as worker counts).
    """

    name: str
    title: str
    x_label: str
    unit: str
    plot: str = "rate"
    log_x: bool = True
    clocks: tuple[str, ...] = CLOCKS
    series: dict[str, dict[float, list[Timing]]] = field(default_factory=dict)
    references: dict[str, dict[str, float]] = field(default_factory=dict)
    """Levels drawn across the panels (e.g. the clean stack's rate): label -> clock -> value."""
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, x: float, timing: Timing) -> None:
        self.series.setdefault(label, {}).setdefault(x, []).append(timing)

    def values(self, label: str, clock: str) -> tuple[list[float], list[list[float]]]:
        """x values and, per x, the plotted quantity of every repeat."""
        points = self.series[label]
        xs = sorted(points)
        if self.plot == "rate":
            return xs, [[t.rate(clock) for t in points[x]] for x in xs]
        return xs, [[t.seconds(clock) for t in points[x]] for x in xs]

    def medians(self, label: str, clock: str) -> tuple[list[float], list[float]]:
        xs, samples = self.values(label, clock)
        return xs, [statistics.median(s) for s in samples]

    @property
    def quantity(self) -> str:
        return f"{self.unit}/s" if self.plot == "rate" else "seconds"

    def to_json(self) -> dict:
        settings = {k: v for k, v in vars(self).items() if k != "series"}
        series = {label: {repr(x): [vars(t) for t in ts] for x, ts in points.items()}
                  for label, points in self.series.items()}  # fmt: skip
        return {**settings, "series": series}

    @classmethod
    def from_json(cls, data: dict) -> Curve:
        """The curve :meth:`to_json` wrote (every timing kept, so reports can be redrawn)."""
        series = {label: {float(x): [Timing(**t) for t in ts] for x, ts in points.items()}
                  for label, points in data.pop("series").items()}  # fmt: skip
        return cls(**{**data, "clocks": tuple(data["clocks"]), "series": series})


def loglog_slopes(xs: list[float], ys: list[float]) -> tuple[float, list[float]]:
    """The least-squares slope of ``log y`` on ``log x`` and the slope between each pair of
    neighbouring points (where a curve bends, the local slopes change)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    overall = float(np.polyfit(lx, ly, 1)[0]) if len(xs) > 1 else math.nan
    local = [float(s) for s in np.diff(ly) / np.diff(lx)]
    return overall, local


def growth_lines(curve: Curve, clock: str = "cpu") -> list[str]:
    """Per series, the log-log slopes of the plotted quantity (medians) against x."""
    if not curve.log_x:
        return []
    lines = []
    for label in curve.series:
        xs, ys = curve.medians(label, clock)
        if len(xs) < 2:
            continue
        overall, local = loglog_slopes(xs, ys)
        shown = ", ".join(f"{s:+.2f}" for s in local)
        lines.append(f"- {label}: log-log slope of {curve.quantity} ({clock}) vs "
                     f"{curve.x_label}: {overall:+.2f} overall; neighbours {shown}")  # fmt: skip
    return lines


def _number(v: float) -> str:
    if v >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def markdown(curve: Curve) -> str:
    """The curve's table (medians and the range over repeats), then its growth lines."""
    columns = [curve.x_label, "series", "repeats"]
    for clock in curve.clocks:
        columns += [f"{curve.quantity} ({clock})", f"range ({clock})"]
    if curve.plot == "rate":
        columns.append("seconds per point (wall)")
    align = ["---" if i == 1 else "---:" for i in range(len(columns))]
    lines = [curve.title, "", "| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"]
    xs = sorted({x for points in curve.series.values() for x in points})
    for x in xs:
        for label, points in curve.series.items():
            if x not in points:
                continue
            row = [_number(x), label, str(len(points[x]))]
            for clock in curve.clocks:
                _, samples = curve.values(label, clock)
                s = samples[sorted(points).index(x)]
                row += [_number(statistics.median(s)), f"{_number(min(s))}-{_number(max(s))}"]
            if curve.plot == "rate":
                row.append(_number(statistics.median(t.wall for t in points[x])))
            lines.append("| " + " | ".join(row) + " |")
    extra = growth_lines(curve) + [f"- {note}" for note in curve.notes]
    return "\n".join(lines + ([""] + extra if extra else [])) + "\n"


def figure(curve: Curve):
    """One panel per clock: medians with markers, error bars from the fastest to the slowest
    repeat."""
    panels = Panels(len(curve.clocks))
    for i, clock in enumerate(curve.clocks):
        for label in curve.series:
            xs, samples = curve.values(label, clock)
            med = np.array([statistics.median(s) for s in samples])
            err = np.array([med - [min(s) for s in samples], [max(s) for s in samples] - med])
            panels.line(i, xs, med, label, err=err)
        for label, level in curve.references.items():
            panels.reference(i, level[clock], label)
        ax = panels.axes[i]
        if curve.log_x:
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))  # 64, not 2^6
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(xs)  # the measured points
        if curve.log_x:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        name = "CPU time" if clock == "cpu" else "wall clock"
        ax.set(xlabel=curve.x_label, ylabel=f"{curve.quantity} ({name})", title=name)
    return panels.finish(curve.title)


def write(curve: Curve, out: Path) -> str:
    """Write ``out/scaling_<name>.{png,md,json}`` and return the Markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(curve)
    save_png(figure(curve), out / f"scaling_{curve.name}.png")
    atomic_write_bytes(out / f"scaling_{curve.name}.md", text.encode())
    data = json.dumps(curve.to_json(), indent=1).encode()
    atomic_write_bytes(out / f"scaling_{curve.name}.json", data)
    return text


def read(name: str, out: Path) -> Curve:
    """The curve stored in ``out/scaling_<name>.json``."""
    return Curve.from_json(json.loads((out / f"scaling_{name}.json").read_text()))
