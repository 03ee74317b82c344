"""Fig. 8 and Table 1: correspondence of object parts (plotting and formatting only).

Paper: Sec. 5, Fig. 8, Table 1.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from zflib.methods.correspondence import PARTS, ROWS
from zflib.viz import require

_LABEL = {"right_eye": "right eye", "left_eye": "left eye", "nose": "nose", "random": "random"}


def _masked(image: np.ndarray, box: torch.Tensor, fill: tuple[int, int, int],
            offset: int, crop: int) -> np.ndarray:
    out = image.copy()
    x0, y0, x1, y1 = box.tolist()
    out[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = fill  # a negative start would wrap
    return out[offset:offset + crop, offset:offset + crop]


def plot_fig8(images: torch.Tensor, boxes: dict[str, torch.Tensor],
              random: list[torch.Tensor], *, fill: tuple[int, int, int], crop: int,
              titles: list[str] | None = None) -> plt.Figure:
    """Fig. 8: one row per dog; columns: the image, the right eye, left eye and nose masked,
    then random masks of the same sizes (as the network sees them: the centre crop).

    Args:
        images: uint8 [N, H, W, 3] stored images.
        boxes: part -> [N, 4] (x0, y0, x1, y1) boxes in stored-image pixels.
        random: sets of random boxes [N, 4] to show (e.g. ``example_random_boxes``).
        fill: RGB of the mask (the mean pixel).
        crop: the network's input side (centre crop).
        titles: row labels (e.g. breeds).

    Paper: Sec. 5, Fig. 8.
    """
    n = len(images)
    require(n, "images")
    side = images.shape[1]
    offset = (side - crop) // 2
    cols = 1 + len(PARTS) + len(random)
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols, 1.9 * n), squeeze=False)
    heads = ["original"] + [_LABEL[p] for p in PARTS] + ["random"] * len(random)
    for i in range(n):
        img = images[i].numpy()
        tiles = [img[offset:offset + crop, offset:offset + crop]]
        tiles += [_masked(img, boxes[p][i], fill, offset, crop) for p in PARTS]
        tiles += [_masked(img, r[i], fill, offset, crop) for r in random]
        for j, t in enumerate(tiles):
            ax = axes[i, j]
            ax.imshow(t)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(heads[j], fontsize=9)
            if j == 0 and titles:
                ax.set_ylabel(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


_CONTROLS = {"random": ("anywhere in each image", "0.72"),
             "random_aligned": ("at one place in every image", "#9ecae1")}


def plot_consistency(results: dict) -> plt.Figure:
    """Beside Table 1: for each layer and part, the disagreement of the part's mask (red)
    against those of random regions of the same size (violins, one dot per placement), placed
    anywhere in each image (grey, the paper's control) or at one place in every image (blue,
    the control for where the part sits). The further below a violin, the more consistently
    masking the part changes the features of different dogs (0.5 is chance); p, the share of
    the violin as low or lower, is written beside the part.

    ``results`` from :func:`zflib.methods.correspondence.correspondence_table`.

    Paper: Sec. 5, Table 1 (an analysis beyond it).
    """
    layers = results["layers"]
    require(len(layers), "layers")
    fig, axes = plt.subplots(1, len(layers), figsize=(4.4 * len(layers), 3.8), sharey=True,
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, layer in zip(axes[0], layers, strict=True):
        for x, part in enumerate(PARTS):
            d = results["decomposition"][part][layer]
            for shift, (control, (_, colour)) in zip((-0.2, 0.2), _CONTROLS.items(),
                                                      strict=True):
                rand = np.asarray(d[f"{control}_disagree"], dtype=float)
                rand = rand[np.isfinite(rand)]
                v = ax.violinplot(rand, positions=[x + shift], widths=0.38, showextrema=False)
                for body in v["bodies"]:
                    body.set_facecolor(colour)
                    body.set_alpha(0.7)
                ax.scatter(x + shift + rng.uniform(-0.06, 0.06, len(rand)), rand, s=3,
                           color="0.3")
            ax.scatter([x], [d["disagree"]], s=60, marker="D", color="tab:red", zorder=3)
            ax.annotate(f"p = {d['random_disagree_rank']:.2f} / "
                        f"{d['random_aligned_disagree_rank']:.2f}", (x, d["disagree"]),
                        xytext=(0, -13), textcoords="offset points", ha="center", va="center",
                        fontsize=7.5, color="tab:red", zorder=4,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                              "alpha": 0.85})
        ax.axhline(0.5, color="0.5", lw=0.8, ls="--")
        ax.margins(y=0.1)
        ax.set_xticks(range(len(PARTS)), [_LABEL[p] for p in PARTS])
        ax.set_title(f"{layer}: each part (red) against random regions of its size",
                     fontsize=9)
    axes[0, 0].set_ylabel("sign disagreement among\nfeatures both dogs change")
    handles = [plt.Rectangle((0, 0), 1, 1, fc=c, alpha=0.7) for _, c in _CONTROLS.values()]
    fig.legend(handles, [f"random, {t}" for t, _ in _CONTROLS.values()], loc="lower center",
               ncol=2, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.06))
    fig.tight_layout()
    return fig


def table_markdown(results: dict) -> str:
    """Table 1 as Markdown: our mean feature sign change beside the paper's, and a legend
    line saying what each ± is.

    Our ± is the standard deviation over the image pairs (for random regions, over the pairs
    of every draw pooled); the random row also gives, in brackets, the standard deviation over
    the draws of the mean over pairs (``draw_std``), how much the row's mean moves from one
    set of random regions to the next. The paper does not say what its ± is.

    ``results`` from :func:`zflib.methods.correspondence.correspondence_table`.
    """
    l5, l7 = results["paper_layers"]["layer5"], results["paper_layers"]["layer7"]

    def cell(d: dict) -> str:
        out = f"{d['mean']:.3f} ± {d['std']:.3f}"
        return out + (f" (± {d['draw_std']:.3f} over draws)" if "draw_std" in d else "")

    lines = [f"| Occlusion location | ours, layer 5 ({l5}) | ours, layer 7 ({l7}) | "
             "paper, layer 5 | paper, layer 7 |", "|---|---|---|---|---|"]
    for row in ROWS:
        ours, paper = results["rows"][row], results["paper"][row]
        lines.append(f"| {_LABEL[row]} | {cell(ours[l5])} | {cell(ours[l7])} | "
                     f"{cell(paper['layer5'])} | {cell(paper['layer7'])} |")
    pairs = f"{results['pairs']} " if "pairs" in results else ""
    draws = f"{results['draws']} " if "draws" in results else ""
    legend = (f"Ours: mean ± standard deviation over the {pairs}image pairs (random regions: "
              f"over the pairs of all {draws}draws pooled); in brackets, the standard "
              "deviation over the draws of the random row's mean over pairs. Paper: as "
              "printed; it does not say what its ± is.")
    return "\n".join(lines) + "\n\n" + legend


def decomposition_markdown(results: dict) -> str:
    """Table 1's scores taken apart (:func:`zflib.methods.correspondence.decompose`), one line per
    location and layer: the share of features the mask changes; among the features two
    images both change, the share changed in opposite directions (0.5 is chance); and, for
    the parts, the share of random regions of the part's size that score as low or lower
    (empirical one-sided p-values) by the paper's sign change and by the disagreement, against
    regions anywhere in each image and against regions at one place in every image."""
    lines = ["| location | layer | changed | disagree | p: score vs random | "
             "p: disagree vs random | p: disagree vs aligned random |", "|---" * 7 + "|"]
    labels = {**_LABEL, "random_aligned": "random, aligned"}
    for row, label in labels.items():
        for k in results["layers"]:
            d = results["decomposition"][row][k]
            ps = (f"{d['score_rank']:.2f} | {d['random_disagree_rank']:.2f} | "
                  f"{d['random_aligned_disagree_rank']:.2f}" if row in PARTS else "- | - | -")
            lines.append(f"| {label} | {k} | {d['changed']:.3f} | {d['disagree']:.3f} | {ps} |")
    return "\n".join(lines)


def models_markdown(per_model: dict[str, dict], layer: str = "conv5") -> str:
    """One ``layer`` row of Table 1 per model: the mean sign change of each part and of random
    regions; the disagreement of the parts (averaged) against random and aligned random
    regions; and each part's p-value of its disagreement against either control.

    ``per_model``: label -> results of :func:`zflib.methods.correspondence.correspondence_table`.
    """
    names = ", ".join(_LABEL[p] for p in PARTS)
    lines = [f"| model ({layer}) | " + " | ".join(_LABEL[r] for r in ROWS)
             + " | disagree: parts / random / aligned random | "
             f"p vs random ({names}) | p vs aligned random ({names}) |",
             "|---" * (len(ROWS) + 4) + "|"]
    for label, res in per_model.items():
        dec = res["decomposition"]
        parts = float(np.mean([dec[p][layer]["disagree"] for p in PARTS]))
        cells = " | ".join(f"{res['rows'][r][layer]['mean']:.3f}" for r in ROWS)
        ps = [", ".join(f"{dec[p][layer][f'{c}_disagree_rank']:.2f}" for p in PARTS)
              for c in _CONTROLS]
        lines.append(f"| {label} | {cells} | {parts:.3f} / {dec['random'][layer]['disagree']:.3f}"
                     f" / {dec['random_aligned'][layer]['disagree']:.3f} | {ps[0]} | {ps[1]} |")
    return "\n".join(lines)
