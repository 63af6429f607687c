"""PNG charts for people: written to a file, logged as artifacts.

matplotlib runs headless (Agg), imported inside the functions so importing
this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_policies(
    series: Mapping[str, Sequence[tuple[int, float]]],
    retrains: Mapping[str, Sequence[int]],
    *,
    metric: str,
    title: str,
    path: Path,
    period_label: str = "period",
) -> Path:
    """One line per policy of the metric over time, with a marker at each retrain.

    Args:
        series: ``{policy: [(period, metric value), ...]}``.
        retrains: ``{policy: [period of each retrain, ...]}``.
        metric: Metric name for the y axis.
        title: Chart title.
        path: Where the PNG goes.
        period_label: Name of the time unit for the x axis.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    try:
        for i, (policy, points) in enumerate(series.items()):
            if not points:
                continue
            xs, ys = zip(*sorted(points), strict=True)
            color = f"C{i % 10}"
            ax.plot(xs, ys, label=policy, color=color, linewidth=1.6)
            marks = [
                (x, y) for x, y in zip(xs, ys, strict=True) if x in set(retrains.get(policy, ()))
            ]
            if marks:
                mx, my = zip(*marks, strict=True)
                ax.scatter(mx, my, color=color, marker="v", s=36, zorder=3)
        ax.set_xlabel(period_label)
        ax.set_ylabel(metric)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(title="policy (v = retrain)", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
