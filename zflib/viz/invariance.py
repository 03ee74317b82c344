"""Fig. 5: feature invariance to translation, scale and rotation (plotting only).

Paper: Sec. 4.4, Fig. 5.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from zflib.methods.invariance import InvarianceCurves
from zflib.viz import require

_XLABEL = {"translation": "vertical translation (pixels)", "scale": "scale (ratio)",
           "rotation": "rotation (degrees)"}


def _strip(examples: torch.Tensor, picks: list[int], gap: int = 2) -> np.ndarray:
    """Some of the transformed images side by side, white gaps."""
    tiles = [examples[i].numpy() / 255.0 for i in picks]
    s = tiles[0].shape[0]
    out = np.ones((s, len(tiles) * (s + gap) - gap, 3))
    for k, t in enumerate(tiles):
        out[:, k * (s + gap):k * (s + gap) + s] = t
    return out


def plot_fig5(rows: list[InvarianceCurves], names: list[str], *, layers: tuple[str, str] = (
        "conv1", "fc7"), n_examples: int = 5) -> plt.Figure:
    """Fig. 5: rows translation / scale / rotation; columns: example transformed images,
    Euclidean feature distance to the original at ``layers[0]`` and ``layers[1]``, and the
    probability of the true class; one line per image.

    Args:
        rows: :func:`zflib.methods.invariance.invariance_curves` results, one per transformation.
        names: class names of the images' true classes, in image order (legend).
        layers: the two layers plotted (paper: layers 1 and 7).
        n_examples: transformed images shown in the first column.

    Paper: Sec. 4.4, Fig. 5.
    """
    require(len(rows), "transformations (rows)")
    require(min(len(r.values) for r in rows), "transformation amounts")
    require(min(len(r.prob) for r in rows), "images")
    fig, axes = plt.subplots(len(rows), 4, figsize=(17, 3.3 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6, 1, 1, 1]})
    colours = plt.get_cmap("tab10")
    for r, (row, ax) in enumerate(zip(rows, axes, strict=True)):
        tag = "abc"[r] if r < 3 else str(r)
        v = row.values.numpy()
        picks = np.linspace(0, len(v) - 1, min(n_examples, len(v))).round().astype(int)
        ax[0].imshow(_strip(row.examples, picks.tolist()))
        ax[0].set_title(f"({tag}1) {row.kind}: " + ", ".join(f"{v[i]:g}" for i in picks),
                        fontsize=9)
        ax[0].axis("off")
        panels = [(row.distance[layers[0]], f"({tag}2) Euclidean distance, {layers[0]}"),
                  (row.distance[layers[1]], f"({tag}3) Euclidean distance, {layers[1]}"),
                  (row.prob, f"({tag}4) P(true class)")]
        for c, (values, title) in enumerate(panels, start=1):
            for n in range(len(values)):
                ax[c].plot(v, values[n].numpy(), "-", color=colours(n % 10), lw=1.4,
                           marker=".", ms=3, label=names[n] if c == 3 else None)
            ax[c].set_title(title, fontsize=9)
            ax[c].set_xlabel(_XLABEL.get(row.kind, row.kind), fontsize=8)
            ax[c].tick_params(labelsize=7)
            ax[c].grid(alpha=0.3)
        ax[3].set_ylim(-0.02, 1.02)
    axes[0, 3].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig
