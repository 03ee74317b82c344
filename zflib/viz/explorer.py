"""The explorer's picture: eight panels for one (model, layer, map, image) (plotting only; the
tensors come from :meth:`zflib.apps.explorer.Explorer.view`).

Row 1: the input with the receptive field of the map's strongest unit, the layer's maps, the
chosen map, and the deconvnet projection of its strongest activation. Row 2: the map's top-k
projections over the mined images beside their patches (Fig. 2), and the occlusion maps
(Fig. 7 (b) and (d)) over the image.

Drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot state, so a long-lived kernel does
not accumulate figures).

Paper: Sec. 2.1, Fig. 2, Fig. 7.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from zflib.methods import occlusion, topk
from zflib.methods.receptive import ReceptiveField, patch_box
from zflib.viz.deconv import projection_to_rgb


@dataclass
class View:
    """Everything the explorer shows for one (model, layer, map, image): tensors only.

    Attributes:
        model, layer, fmap, title: what is shown.
        image: [3, S, S] the input as the network sees it, 0..1.
        activations: [C, h, w] the layer's maps for this image.
        position, value: (y, x) and value of the map's strongest activation in this image.
        projection: [3, S, S] its projection by ``rule`` (the deconvnet's: Sec. 2.1).
        rf: the layer's receptive field (for the box around a unit).
        top: the map's top-k over the mined images, projected, with their patches (Fig. 2).
        occlusion: the occlusion maps of this map and the target class (Fig. 7), or None.
        target, target_name, prob: the class of the occlusion's probability map, its name and
            probability on the unoccluded image (None without a trained classifier).
        timings: seconds spent per step of this update (cached steps are near 0).
        rule: the backward rule of the projections (``deconvnet``, ``guided``, ``gradient``).
    """

    model: str
    layer: str
    fmap: int
    title: str
    image: torch.Tensor
    activations: torch.Tensor
    position: tuple[int, int]
    value: float
    projection: torch.Tensor
    rf: ReceptiveField
    top: topk.TopProjections
    occlusion: occlusion.OcclusionMaps | None
    target: int | None
    target_name: str | None
    prob: float | None
    timings: dict[str, float]
    rule: str = "deconvnet"


# how a picture names each backward rule
_RULE_NAMES = {"deconvnet": "deconvnet", "guided": "guided backprop", "gradient": "gradient"}


def _tiles(tiles: list[np.ndarray], cols: int, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tiles [s, s, ...] in a grid of ``cols`` columns separated by ``gap`` pixels of ``fill``."""
    s = tiles[0].shape[0]
    rows = -(-len(tiles) // cols)
    shape = (rows * (s + gap) - gap, cols * (s + gap) - gap, *tiles[0].shape[2:])
    out = np.full(shape, fill, dtype=np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (s + gap):r * (s + gap) + s, c * (s + gap):c * (s + gap) + s] = t
    return out


def activation_grid(acts: torch.Tensor, *, max_side: int = 32,
                    gap: int = 1) -> tuple[np.ndarray, int, int]:
    """All maps of a layer [C, h, w] in one grey image (one scale for the whole layer, so
    strong maps stand out); maps larger than ``max_side`` are max-pooled down for display.

    Returns (image [H, W] in 0..1, NaN in the gaps), columns, tile side."""
    a = acts.detach().float().cpu()
    if a.shape[-1] > max_side:
        a = F.adaptive_max_pool2d(a[None], max_side)[0]
    a = a / (float(a.max()) or 1.0)
    c = len(a)
    cols = int(np.ceil(np.sqrt(c)))
    grid = _tiles([t.numpy() for t in a], cols, gap, fill=np.nan)
    return grid, cols, a.shape[-1]


def _box(ax, rf, y: int, x: int, side: int, colour: str) -> None:
    top, left, bottom, right = patch_box(rf, y, x)
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, side), min(right, side)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                           lw=1.5, ec=colour))


def _extent(occ, side: int) -> list[float]:
    """imshow extent placing each occlusion cell at its square's centre (input pixels)."""
    half = occ.stride / 2
    cy = (occ.ys.float() + min(occ.size, side) / 2).clamp(max=side)
    cx = (occ.xs.float() + min(occ.size, side) / 2).clamp(max=side)
    return [float(cx[0]) - half, float(cx[-1]) + half, float(cy[-1]) + half,
            float(cy[0]) - half]


def plot_view(view: View, *, width: float = 13.0) -> Figure:
    """The explorer's eight panels for a :class:`zflib.apps.explorer.View`.

    Paper: Sec. 2.1, Fig. 2, Fig. 7.
    """
    fig = Figure(figsize=(width, width * 0.52))
    axes = fig.subplots(2, 4)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    img = view.image.permute(1, 2, 0).clamp(0, 1).numpy()
    side = img.shape[0]
    y, x = view.position
    layer, m = view.layer, view.fmap

    ax = axes[0, 0]
    ax.imshow(img, interpolation="nearest")
    _box(ax, view.rf, y, x, side, "red")
    if view.occlusion is not None:
        s = view.occlusion.size
        ax.add_patch(Rectangle((-0.5, -0.5), s, s, color="grey", alpha=0.8))
    title = view.title
    if view.target_name is not None:
        title += f"\nP({view.target_name[:24]}) = {view.prob:.2f}"
    ax.set_title(title, fontsize=9)

    ax = axes[0, 1]
    grid, cols, s = activation_grid(view.activations)
    ax.imshow(np.ma.masked_invalid(grid), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    r, c = divmod(m, cols)
    ax.add_patch(Rectangle((c * (s + 1) - 1, r * (s + 1) - 1), s + 1, s + 1, fill=False,
                           lw=1.5, ec="red"))
    ax.set_facecolor("white")
    ax.set_title(f"{layer}: all {len(view.activations)} maps (map {m} in red)", fontsize=9)

    ax = axes[0, 2]
    amap = view.activations[m].float().numpy()
    ax.imshow(amap, cmap="viridis", interpolation="nearest")
    ax.plot([x], [y], marker="+", color="red", ms=10, mew=2)
    ax.set_title(f"map {m}: activations {amap.shape[0]}x{amap.shape[1]}\n"
                 f"strongest {view.value:.3g} at ({y}, {x})", fontsize=9)

    ax = axes[0, 3]
    ax.imshow(projection_to_rgb(view.projection), interpolation="nearest")
    _box(ax, view.rf, y, x, side, "red")
    ax.set_title(f"{_RULE_NAMES.get(view.rule, view.rule)} projection of the\nstrongest "
                 "activation (this image)", fontsize=9)

    tp = view.top
    k = tp.projections.shape[1]
    cols = int(np.ceil(np.sqrt(k)))
    ax = axes[1, 0]
    ax.imshow(_tiles([projection_to_rgb(p) for p in tp.projections[0]], cols),
              interpolation="nearest")
    ax.set_title(f"top {k}: projections (Fig. 2)", fontsize=9)
    ax = axes[1, 1]
    ax.imshow(_tiles([p.permute(1, 2, 0).clamp(0, 1).numpy() for p in tp.patches[0]], cols),
              interpolation="nearest")
    ax.set_title(f"top {k}: image patches ({tp.patches.shape[-1]} px)", fontsize=9)

    occ = view.occlusion
    if occ is None:
        for ax in axes[1, 2:]:
            ax.text(0.5, 0.5, "occlusion off", ha="center", va="center", fontsize=9)
    else:
        ext = _extent(occ, side)
        ax = axes[1, 2]
        ax.imshow(img, interpolation="nearest")
        lo, hi = float(occ.feature.min()), float(occ.feature.max())
        ax.imshow(occ.feature.numpy(), cmap="jet", alpha=0.6, extent=ext)
        ax.set_xlim(-0.5, side - 0.5)
        ax.set_ylim(side - 0.5, -0.5)
        ax.set_title(f"occluded ({occ.size} px square): map {m}'s total\nactivation, "
                     f"blue {lo:.3g} .. red {hi:.3g} (none: {occ.clean_feature:.3g})",
                     fontsize=9)
        ax = axes[1, 3]
        if view.target_name is None:
            ax.text(0.5, 0.5, "no trained classifier\nfor this model", ha="center",
                    va="center", fontsize=9)
        else:
            ax.imshow(img, interpolation="nearest")
            hi = max(float(occ.prob.max()), 1e-6)
            ax.imshow(occ.prob.numpy(), cmap="jet", alpha=0.6, extent=ext, vmin=0, vmax=hi)
            ax.set_xlim(-0.5, side - 0.5)
            ax.set_ylim(side - 0.5, -0.5)
            ax.set_title(f"occluded: P({view.target_name[:24]}) (Fig. 7 (d)),\n"
                         f"blue 0 .. red {hi:.2f}", fontsize=9)
    fig.suptitle(f"{view.model}, {layer}, map {m}", fontsize=11)
    fig.subplots_adjust(left=0.01, right=0.97, bottom=0.01, top=0.86, wspace=0.12,
                        hspace=0.3)
    return fig


def render_png(view: View, *, dpi: int = 72) -> bytes:
    """:func:`plot_view` as PNG bytes (what the explorer's picture widget shows)."""
    fig = plot_view(view)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


__all__ = ["activation_grid", "plot_view", "render_png"]
