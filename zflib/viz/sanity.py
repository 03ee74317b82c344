"""Pictures and tables of the sanity checks (:mod:`zflib.methods.sanity`): Adebayo et al.'s
Fig. 2-style rows (one image; columns: the layers randomised so far; rows: the rules), the
similarity curves with their spread, and the Markdown table ``RESULTS.md`` shows.

Plotting only: everything drawn was computed by :func:`zflib.methods.sanity.randomisation_test`.

Paper: not in the paper (Adebayo et al. 2018, Fig. 2 and 4).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from zflib.methods.sanity import SanityCurve, grey

RULE_NAMES = {"deconvnet": "deconvnet", "guided": "guided backprop", "gradient": "gradient"}
MEASURE_NAMES = {"spearman_abs": "rank correlation (|values|)",
                 "spearman": "rank correlation (signed)", "ssim": "SSIM",
                 "hog": "HOG similarity"}
COLOURS = {"deconvnet": "tab:blue", "guided": "tab:orange", "gradient": "tab:green"}


def plot_rows(curve: SanityCurve, image: torch.Tensor | np.ndarray | None = None, *,
              title: str = "") -> plt.Figure:
    """One row per rule: the trained network's projection of the first image, then its
    projection after each step of the randomisation, as grey maps (absolute values summed
    over channels, 99th percentile at full white); ``image`` [3, S, S] or [S, S, 3] in 0..1,
    if given, heads the rows."""
    if not curve.rules or not curve.steps:
        raise ValueError("nothing to draw: no rule or no step")
    cols = len(curve.steps) + 1 + (image is not None)
    rows = len(curve.rules)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows + 0.5),
                             squeeze=False)
    for r, rule in enumerate(curve.rules):
        maps = grey(torch.cat([curve.original[rule][None], curve.examples[rule]])).numpy()
        c0 = 0
        if image is not None:
            img = torch.as_tensor(np.asarray(image)).float()
            img = img.permute(1, 2, 0) if img.shape[0] == 3 else img
            axes[r, 0].imshow(img.clamp(0, 1).numpy())
            axes[r, 0].set_title("image" if r == 0 else "", fontsize=8)
            c0 = 1
        for j, m in enumerate(maps):
            ax = axes[r, c0 + j]
            ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if r == 0:
                ax.set_title("trained" if j == 0 else "+" + curve.layers[j - 1]
                             if curve.order == "cascading" else curve.layers[j - 1],
                             fontsize=8)
        axes[r, 0].set_ylabel(RULE_NAMES.get(rule, rule), fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    order = "cascading randomisation, top layer first" if curve.order == "cascading" else \
        "each layer randomised alone"
    fig.suptitle(title or f"Projections of the class logit, {order}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_curves(summary: dict, steps: list[str], *, title: str = "") -> plt.Figure:
    """The similarity of the randomised projections to the trained network's, one panel per
    measure, one line per rule (mean over images and seeds, the band one standard deviation):
    ``summary`` as :meth:`zflib.methods.sanity.SanityCurve.summary` gives it."""
    if not summary or not steps:
        raise ValueError("nothing to draw: an empty summary")
    rules = list(summary)
    measures = list(summary[rules[0]])
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 3.2),
                             squeeze=False)
    xs = np.arange(len(steps) + 1)
    labels = ["trained"] + ["+" + s.split("-")[-1] for s in steps]
    for ax, m in zip(axes[0], measures, strict=True):
        for r in rules:
            mean = np.array([1.0] + [summary[r][m][s]["mean"] for s in steps])
            std = np.array([0.0] + [summary[r][m][s]["std"] for s in steps])
            ax.plot(xs, mean, "o-", color=COLOURS.get(r), label=RULE_NAMES.get(r, r), ms=3)
            ax.fill_between(xs, mean - std, mean + std, color=COLOURS.get(r), alpha=0.2)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, fontsize=7)
        ax.set_ylim(-0.3, 1.05)
        ax.set_title(MEASURE_NAMES.get(m, m), fontsize=9)
    axes[0, 0].set_ylabel("similarity to the trained network's")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title or "Cascading randomisation", fontsize=10)
    fig.tight_layout()
    return fig


def _cell(v: dict) -> str:
    return "-" if v is None or math.isnan(v["mean"]) else f"{v['mean']:.2f} ± {v['std']:.2f}"


def sanity_markdown(data: dict, measure: str = "spearman_abs") -> str:
    """A Markdown table of a saved sanity check (``data``: the notebook's results: ``steps``,
    ``summary``, ``class_sensitivity``): one row per rule, the mean ± standard deviation of
    ``measure`` after each step, and the class sensitivity (top class against a random one)."""
    steps, summary = data["steps"], data["summary"]
    head = ["rule"] + [f"+{s.split('-')[-1]}" for s in steps] + ["top vs random class"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for r, by in summary.items():
        cells = [_cell(by[measure][s]) for s in steps]
        cls = data.get("class_sensitivity", {}).get(r, {}).get(measure)
        lines.append(f"| {RULE_NAMES.get(r, r)} | " + " | ".join(cells) + f" | {_cell(cls)} |")
    return "\n".join(lines)


__all__ = ["plot_curves", "plot_rows", "sanity_markdown"]
