"""Plots the notebooks share, so that a notebook cell stays one line."""

from __future__ import annotations

import numpy as np


def step_size_errors(steps, errors_by_method: dict, *, ax=None, title: str | None = None):
    """Log-log plot of relative error against step size, one line per method.

    Dotted guide lines with slopes +1 and +2 (truncation) and -1 (round-off)
    let a reader check the theory by eye.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    steps = np.asarray(steps, dtype=float)
    floor = np.finfo(float).eps / 4  # an error of exactly 0 cannot be drawn on a log axis
    for method, errors in errors_by_method.items():
        ax.loglog(steps, np.maximum(np.asarray(errors, dtype=float), floor), "o-", ms=3, label=method)
    # Guides: truncation slopes through each method's error at the largest step, round-off as u / h.
    curves = [np.asarray(e, dtype=float) for e in errors_by_method.values()]
    for slope, style, curve in [(1, ":", curves[0] if curves else None),
                                (2, "--", curves[1] if len(curves) > 1 else None)]:
        if curve is not None:
            ax.loglog(steps, curve[-1] * (steps / steps[-1]) ** slope, "k" + style, lw=0.8, alpha=0.5,
                      label=f"slope +{slope} (truncation)")
    ax.loglog(steps, np.finfo(float).eps / steps, "k-.", lw=0.8, alpha=0.5, label="u / h (round-off)")
    ax.set_xlabel("step size h")
    ax.set_ylabel("relative error of the gradient")
    ax.set_ylim(floor / 2, 10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
