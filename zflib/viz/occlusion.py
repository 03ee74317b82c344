"""Fig. 7: occlusion sensitivity, five panels per image (plotting only).

Paper: Sec. 4.2, Fig. 7.
"""

from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch, Rectangle

from zflib.methods.occlusion import MapProjections, OcclusionMaps
from zflib.viz import require
from zflib.viz.deconv import projection_to_rgb


def _montage(own: torch.Tensor, others: torch.Tensor, cols: int = 3,
             gap: int = 2) -> np.ndarray:
    """This image's projection (framed in black) then the others, in a grid."""
    tiles = [projection_to_rgb(own)] + [projection_to_rgb(o) for o in others]
    s = tiles[0].shape[0]
    rows = -(-len(tiles) // cols)
    out = np.ones((rows * (s + gap) + gap, cols * (s + gap) + gap, 3))
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = gap + r * (s + gap), gap + c * (s + gap)
        out[y:y + s, x:x + s] = t
        if i == 0:  # the black square of the paper
            out[y - gap:y + s + gap, x - gap:x] = 0
            out[y - gap:y + s + gap, x + s:x + s + gap] = 0
            out[y - gap:y, x - gap:x + s + gap] = 0
            out[y + s:y + s + gap, x - gap:x + s + gap] = 0
    return out


def _extent(maps: OcclusionMaps, side: int) -> list[float]:
    """imshow extent placing each map cell at its square's centre (image pixels)."""
    half = maps.stride / 2
    cy = (maps.ys.float() + min(maps.size, side) / 2).clamp(max=side)
    cx = (maps.xs.float() + min(maps.size, side) / 2).clamp(max=side)
    return [float(cx[0]) - half, float(cx[-1]) + half, float(cy[-1]) + half,
            float(cy[0]) - half]


def plot_fig7(images: torch.Tensor, panels: list[tuple[OcclusionMaps, MapProjections | None]],
              names: list[str], *, titles: list[str] | None = None,
              n_classes_shown: int = 4) -> plt.Figure:
    """Fig. 7: one row per image, columns (a) image, (b) total activation of the strongest
    layer-5 map against the square's position, (c) that map projected into this image (black
    square) and into others, (d) probability of the correct class, (e) most probable class.

    Args:
        images: uint8 or float [R, S, S, 3] the images as the network sees them (centre crop).
        panels: per row, :func:`zflib.methods.occlusion.fig7_panels`' (maps, projections or None).
        names: human-readable class names (indexed by class).
        titles: optional row titles (default: the true class).
        n_classes_shown: classes named in the legend of (e) (the most frequent).

    Paper: Sec. 4.2, Fig. 7.
    """
    rows = len(panels)
    require(rows, "images (panels)")
    if len(images) < rows:
        raise ValueError(f"{len(images)} images for {rows} rows of panels")
    fig, axes = plt.subplots(rows, 5, figsize=(16, 3.4 * rows), squeeze=False)
    for r, (maps, proj) in enumerate(panels):
        img = images[r].float()
        img = (img / 255 if img.max() > 1.5 else img).numpy()
        side = img.shape[0]
        ext = _extent(maps, side)
        ax = axes[r]
        ax[0].imshow(img)
        title = titles[r] if titles else names[maps.target]
        ax[0].set_title(f"(a) {title}\nP(true) = {maps.clean_prob:.2f}", fontsize=9)
        y, x = maps.clean_argmax
        ax[0].add_patch(Rectangle((-0.5, -0.5), maps.size, maps.size, fill=True,
                                  color="grey", alpha=0.8))  # the occluder, to scale

        im = ax[1].imshow(maps.feature.numpy(), cmap="jet", extent=ext)
        ax[1].set_title(f"(b) {maps.layer}, map {maps.channel}: total activation\n"
                        f"(unoccluded: {maps.clean_feature:.3g}, "
                        f"strongest at map row {y}, col {x})",
                        fontsize=9)
        fig.colorbar(im, ax=ax[1], fraction=0.046, pad=0.03)

        if proj is not None:
            ax[2].imshow(_montage(proj.own, proj.others))
            ax[2].set_title(f"(c) map {proj.channel} projected: this image\n"
                            f"(black square) and {len(proj.others)} others", fontsize=9)
        else:
            ax[2].text(0.5, 0.5, "(c) not computed", ha="center", va="center")
            ax[2].set_title("(c)", fontsize=9)

        im = ax[3].imshow(maps.prob.numpy(), cmap="jet", extent=ext, vmin=0,
                          vmax=max(float(maps.prob.max()), 1e-6))
        ax[3].set_title(f"(d) P({names[maps.target]})", fontsize=9)
        fig.colorbar(im, ax=ax[3], fraction=0.046, pad=0.03)

        top = maps.top_class.flatten().tolist()
        shown = [c for c, _ in Counter(top).most_common(n_classes_shown)]
        cmap = plt.get_cmap("tab10")
        colour = {c: i for i, c in enumerate(shown)}
        code = np.array([colour.get(c, len(shown)) for c in top]).reshape(maps.top_class.shape)
        palette = [cmap(i) for i in range(len(shown))] + [(0.85, 0.85, 0.85, 1.0)]
        ax[4].imshow(np.array(palette)[code], extent=ext)
        handles = [Patch(color=palette[i], label=names[c][:22]) for c, i in colour.items()]
        if len(set(top)) > len(shown):
            handles.append(Patch(color=palette[-1], label="other"))
        ax[4].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                     frameon=False)
        ax[4].set_title("(e) most probable class", fontsize=9)
        for a in ax:
            a.set_xticks([])
            a.set_yticks([])
    fig.tight_layout()
    return fig
