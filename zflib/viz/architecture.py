"""Fig. 6 (first-layer filters, second-layer projections), its numbers, and Tables 2-3 as
charts (plotting only; the numbers come from :mod:`zflib.methods.filters`,
:mod:`zflib.paper.architecture`).

Paper: Fig. 6, Table 2, Table 3.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from zflib.methods.filters import BANDS
from zflib.viz import require
from zflib.viz.deconv import projection_to_rgb, tile_grid


def filter_grid(weight: torch.Tensor, *, cols: int = 12, shared: bool = False) -> np.ndarray:
    """Conv filters [F, 3, k, k] tiled as RGB (zero grey), each scaled by its own max |value|,
    or with ``shared`` all by the layer's, so that filters of large norm stand out."""
    scale = float(weight.detach().abs().max()) if shared else None
    return tile_grid([projection_to_rgb(w, scale, quantile=1.0) for w in weight], cols)


def plot_fig6(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
              reports: dict[str, dict[str, float]], *, learned: bool = False) -> plt.Figure:
    """The paper's arrangement: (a) layer 1 without renormalisation on top; (b) AlexNet's and
    (c) ZFNet's layer 1; (d) AlexNet's and (e) ZFNet's layer-2 features (projections); and,
    when ``first`` has it, (f) our addition at the bottom: (a)'s twin with renormalisation.

    Args:
        first: ``{"a": w, "b": w, "c": w}`` (and optionally ``"f"``) conv1 weights
            [F, 3, k, k]; without ``"a"`` its row is left out (no such run at 224 px).
        second: ``{"d": p, "e": p}`` projections [M, 3, P, P], one per map (each map's
            strongest activation over the validation images).
        reports: ``{"a"|"b"|"c"|"f": zflib.methods.filters.layer1_report(...)}``, printed under each
            panel.
        learned: the layer-1 weights given are learned components (initialisation regressed
            out); titles and printed energies say so.

    Paper: Sec. 4.1, Fig. 6.
    Note: panel (f) is not in the paper (see the notebook).
    """
    titles = {"a": "(a) ZFNet layer 1, no renormalisation (paper's SGD recipe; one scale)",
              "b": "(b) AlexNet layer 1", "c": "(c) ZFNet layer 1", "d": "(d) AlexNet layer 2",
              "e": "(e) ZFNet layer 2",
              "f": "(f) ZFNet layer 1, with renormalisation (paper's SGD recipe; one scale)"}
    if learned:
        titles = {k: v + (", learned part" if k in "abcf" else "") for k, v in titles.items()}
    energy = "learned_energy" if learned else "energy"
    top, extra = "a" in first, "f" in first
    # Row heights follow the panels' shapes (a 24x4 strip, 12x8 grids, square grids), so
    # that no row leaves a gap: one unit is a half-width panel's width.
    heights = [0.45] * top + [0.72, 0.9] + [0.45] * extra
    fig = plt.figure(figsize=(12, 6 * sum(heights) + 2.5))
    grid = fig.add_gridspec(len(heights), 2, height_ratios=heights, hspace=0.4, wspace=0.08)
    axes = {"b": fig.add_subplot(grid[top, 0]), "c": fig.add_subplot(grid[top, 1]),
            "d": fig.add_subplot(grid[top + 1, 0]), "e": fig.add_subplot(grid[top + 1, 1])}
    if top:
        axes["a"] = fig.add_subplot(grid[0, :])
    if extra:
        axes["f"] = fig.add_subplot(grid[top + 2, :])
    for key, w in first.items():  # (a) and (f): one scale per layer, to show dominance
        axes[key].imshow(filter_grid(w, cols=24 if key in "af" else 12, shared=key in "af"),
                         interpolation="nearest")
    for key, p in second.items():
        side = int(np.ceil(np.sqrt(len(p))))
        axes[key].imshow(tile_grid([projection_to_rgb(t) for t in p], side),
                         interpolation="nearest")
        blank = int((p.flatten(1).abs().sum(1) == 0).sum())  # never above zero: no projection
        axes[key].set_xlabel(f"{len(p)} maps: each one's strongest activation over the\n"
                             "validation images, projected to pixels\n"
                             f"(blank: {blank} map{'' if blank == 1 else 's'} never active "
                             "on those images)", fontsize=9)
    for key, ax in axes.items():
        ax.set_title(titles[key], fontsize=11)
        ax.set_xticks([]), ax.set_yticks([])
        if key in reports:
            r = reports[key]
            ax.set_xlabel(f"{r['kernel']}x{r['kernel']}/{r['stride']}: dead "
                          f"{100 * r['dead_by_activation']:.0f}% (activation), "
                          f"energy low/mid/high {r[energy + '_low']:.2f}/"
                          f"{r[energy + '_mid']:.2f}/{r[energy + '_high']:.2f}"
                          + (f"\nover the radius {100 * r['over_radius']:.0f}%, largest RMS "
                             f"{r['rms_max_over_median']:.1f}x the median"
                             if "over_radius" in r else "")
                          + (f"\nsimilarity to the initial filters {r['init_similarity']:.2f}"
                             if "init_similarity" in r else ""), fontsize=9)
    return fig


def plot_band_energy(reports: dict[str, dict[str, float]]) -> plt.Figure:
    """Layer-1 energy share per frequency band, one group of bars per model; as trained
    (left) and of the learned component (right) when the reports have it."""
    require(len(reports), "reports")
    kinds = [("energy", "as trained")]
    if all("learned_energy_low" in r for r in reports.values()):
        kinds.append(("learned_energy", "learned part (init regressed out)"))
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 3.2), sharey=True,
                             squeeze=False)
    x = np.arange(len(BANDS))
    width = 0.8 / len(reports)
    for ax, (key, title) in zip(axes[0], kinds, strict=True):
        for i, (label, r) in enumerate(reports.items()):
            ax.bar(x + i * width, [r[f"{key}_{b}"] for b in BANDS], width, label=label)
        ax.set_xticks(x + width * (len(reports) - 1) / 2, [f"{b} frequency" for b in BANDS])
        ax.set_title(f"Layer-1 filter energy by band: {title}", fontsize=10)
    axes[0, 0].set_ylabel("share of filter energy")
    axes[0, 0].legend(fontsize=8)
    return fig


def plot_learning_curves(groups: dict[str, dict[str, list[dict]]]) -> plt.Figure:
    """Validation top-1 error (centre crop, solid) and training error (the epoch's batches,
    dashed) per epoch of each run, one panel per geometry (``{title: {run: history}}``)."""
    require(len(groups), "groups")
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 3.8), squeeze=False,
                             sharey=True)
    for ax, (title, curves) in zip(axes[0], groups.items(), strict=True):
        for name, hist in curves.items():
            epochs = [h["epoch"] for h in hist]
            line, = ax.plot(epochs, [100 * h["val_top1_err"] for h in hist], marker=".",
                            label=f"{name} (val)")
            ax.plot(epochs, [100 * h["train_top1_err"] for h in hist], ls="--", lw=0.8,
                    color=line.get_color())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("top-1 error %: val centre crop (solid), train (dashed)")
    return fig


def plot_table3(rows: list[dict]) -> plt.Figure:
    """Table 3 as paired bars: our val top-1 error beside the paper's, per ablation. Rows
    indented in the paper (ablations of the row above them) are labelled with the network they
    modify, and a dashed line separates the AlexNet block from the ZFNet block."""
    require(len(rows), "rows")
    fig, ax = plt.subplots(figsize=(8, 5))
    y = np.arange(len(rows))[::-1]
    ax.barh(y + 0.2, [r["val_top1"] for r in rows], 0.4, label="ours (Tiny ImageNet, 64 px)")
    ax.barh(y - 0.2, [r["paper_val_top1"] for r in rows], 0.4,
            label="paper (ImageNet, 224 px)")
    labels, base = [], ""
    for yi, r in zip(y, rows, strict=True):
        if r["model"][:1].isspace():
            labels.append(f"{base}: {r['model'].strip()}" if base else r["model"].strip())
            continue
        if base:  # a new block starts
            ax.axhline(yi + 0.5, color="0.5", lw=0.8, ls="--")
        run = r.get("run", "")
        base = "AlexNet" if "alexnet" in run else "ZFNet" if "zfnet" in run else ""
        labels.append(r["model"].strip())
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("val top-1 error %")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    ax.set_title("Table 3: ablations")
    return fig


def _row(cells: list) -> str:
    return "| " + " | ".join(cells) + " |"


def table2_markdown(rows: list[dict]) -> str:
    """Table 2 as Markdown: 10-crop validation error (%) beside the paper's."""
    lines = [_row(["model", "epochs", "val top-1", "val top-5", "paper top-1", "paper top-5"]),
             _row(["---"] * 6)]
    lines += [_row([r["model"], str(r["epochs"]), f"{r['val_top1']:.1f}", f"{r['val_top5']:.1f}",
                    f"{r['paper_val_top1']:.1f}", f"{r['paper_val_top5']:.1f}"]) for r in rows]
    return "\n".join(lines)


def table3_markdown(rows: list[dict]) -> str:
    """Table 3 as Markdown: train top-1, val top-1, val top-5 error (%), ours | paper."""
    lines = [_row(["model", "epochs", "train top-1", "val top-1", "val top-5",
                   "paper train top-1", "paper val top-1", "paper val top-5"]),
             _row(["---"] * 8)]
    for r in rows:
        lines.append(_row([r["model"].strip().replace("  ", ""), str(r["epochs"]),
                           f"{r['train_top1']:.1f}", f"{r['val_top1']:.1f}",
                           f"{r['val_top5']:.1f}", f"{r['paper_train_top1']:.1f}",
                           f"{r['paper_val_top1']:.1f}", f"{r['paper_val_top5']:.1f}"]))
    return "\n".join(lines)


def fig6_markdown(reports: dict[str, dict[str, float]]) -> str:
    """Fig. 6's numbers as Markdown: dead and over-the-radius shares, largest / median RMS,
    similarity to the initial filters, and band energies per model (shares, 0..1)."""
    cols = ["dead_by_activation", "dead_by_weight", "over_radius", "rms_max_over_median",
            "init_similarity", "energy_low",
            "energy_mid", "energy_high", "learned_energy_low", "learned_energy_mid",
            "learned_energy_high"]
    lines = [_row(["layer 1 of", "filter"] + [c.replace("_", " ") for c in cols]),
             _row(["---"] * (len(cols) + 2))]
    for name, r in reports.items():
        lines.append(_row([name, f"{r['kernel']}x{r['kernel']}/{r['stride']}"] +
                          [f"{r[c]:.2f}" if c in r else "" for c in cols]))
    return "\n".join(lines)
