"""Figs. 1, 2 and 4: unpooling, top-9 projections beside their patches, feature evolution
(plotting only; the projections come from :mod:`zflib.methods.deconv` and
:mod:`zflib.methods.topk`).

Projections are shown as the paper shows them: each scaled by its own largest absolute value,
zero grey.

Paper: Fig. 1, Fig. 2, Fig. 4.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from zflib.methods.topk import TopProjections
from zflib.viz import require

# Projections are drawn with this quantile of |value| at full contrast: a few extreme pixels
# (the max is 2-4x the 99th percentile on ZFNet-64's layer 5) otherwise grey out the rest.
PROJECTION_QUANTILE = 0.995


def projection_to_rgb(p: torch.Tensor, scale: float | None = None, *,
                      quantile: float = PROJECTION_QUANTILE) -> np.ndarray:
    """A projection [3, P, P] as RGB [P, P, 3] in 0..1: zero grey, ``scale`` (default: the
    ``quantile`` of its |value|; 1.0 is the max) at black / white, beyond it clipped."""
    p = p.detach().float().cpu()
    if not scale:
        a = p.abs().flatten()
        scale = float(a.max() if quantile >= 1 else torch.quantile(a, quantile))
        scale = scale or float(a.max()) or 1.0
    return (0.5 + 0.5 * p / scale).clamp(0, 1).permute(1, 2, 0).numpy()


def _number(layer: str) -> str:
    """``"conv13"`` -> ``"13"`` (the paper's layer number; other names unchanged)."""
    return layer.removeprefix("conv")


def tile_grid(tiles: list[np.ndarray], cols: int, gap: int = 1) -> np.ndarray:
    """Square [s, s, 3] tiles in a grid of ``cols`` columns, ``gap`` white pixels apart."""
    require(len(tiles), "tiles")
    require(cols, "columns")
    s = tiles[0].shape[0]
    rows = -(-len(tiles) // cols)
    out = np.ones((rows * (s + gap) - gap, cols * (s + gap) - gap, 3))
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (s + gap):r * (s + gap) + s, c * (s + gap):c * (s + gap) + s] = t
    return out


def top9_sheet(projections: torch.Tensor, patches: torch.Tensor) -> np.ndarray:
    """One map's block of Fig. 2 as RGB [H, W, 3] in 0..1: its k projections [k, 3, P, P] in a
    square grid (left), a white gap, the image patches [k, C, P, P] in the same grid (right)."""
    side = int(np.ceil(np.sqrt(len(projections))))
    proj = tile_grid([projection_to_rgb(p) for p in projections], side)
    patch = tile_grid([p.permute(1, 2, 0).clamp(0, 1).numpy() for p in patches], side)
    gap = np.ones((proj.shape[0], max(2, proj.shape[1] // 12), 3))
    return np.concatenate([proj, gap, patch], 1)


def plot_unpooling(x: torch.Tensor, pooled: torch.Tensor, switches: torch.Tensor,
                   summed: torch.Tensor, overwritten: torch.Tensor, *,
                   kernel: int = 3, stride: int = 2) -> plt.Figure:
    """Fig. 1 (unpooling): the map, its max-pooled map, the switches, and the unpooled maps
    (sum of contributions, and overwrite as ``nn.MaxUnpool2d``). Arguments are 2-D (or
    [1, 1, H, W]) tensors from :func:`zflib.methods.deconv.pool_with_switches` and ``unpool``."""
    x, pooled, summed, overwritten = (t.reshape(t.shape[-2:]).float()
                                      for t in (x, pooled, summed, overwritten))
    switches = switches.reshape(switches.shape[-2:])
    h, w = x.shape
    counts = torch.bincount(switches.flatten(), minlength=h * w).view(h, w)
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.8))
    panels = [(x, "feature map (switches outlined;\nred: switch of several windows)"),
              (pooled, f"max-pooled {kernel}x{kernel}, stride {stride}"),
              (None, "switches (row, col)"),
              (summed, "unpooled: sum (default,\nthe adjoint; autograd, captum)"),
              (overwritten, "unpooled: overwrite\n(last window wins, MaxUnpool2d)")]
    vmax = float(max(x.abs().max(), summed.abs().max()))
    for ax, (t, title) in zip(axes, panels, strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if t is None:
            ax.imshow(np.ones((*switches.shape, 3)))
            for (i, j), s in np.ndenumerate(switches.numpy()):
                ax.text(j, i, f"({s // w},{s % w})", ha="center", va="center", fontsize=9)
            continue
        ax.imshow(t.numpy(), cmap="Greys", vmin=0, vmax=vmax)
        for (i, j), v in np.ndenumerate(t.numpy()):
            if v:
                ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8,
                        color="white" if v > vmax / 2 else "black")
        if t is not pooled:
            for (i, j), c in np.ndenumerate(counts.numpy()):
                if c:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2,
                                           ec="red" if c > 1 else "tab:blue"))
    fig.tight_layout()
    return fig


def plot_top9(tp: TopProjections, *, cols: int = 4) -> plt.Figure:
    """Fig. 2, one layer: for each map a 3x3 block of its top-9 projections (left) beside the
    image patches behind them (right), as in the paper."""
    m, k = tp.projections.shape[:2]
    if m == 0 or k == 0 or cols < 1:
        raise ValueError(f"nothing to draw: {m} maps, {k} projections each, cols {cols} "
                         "(want at least 1 of each)")
    cols = min(cols, m)
    rows = -(-m // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 1.8 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(m):
        ax = axes.flat[i]
        ax.imshow(top9_sheet(tp.projections[i], tp.patches[i]), interpolation="nearest")
        ax.set_title(f"map {int(tp.maps[i])}  (top {float(tp.top.values[i, 0]):.3g})",
                     fontsize=8)
    fig.suptitle(f"Layer {_number(tp.layer)}: top-{k} projections (left) and image patches (right)",
                 fontsize=11)
    fig.tight_layout()
    return fig


def plot_evolution(evo: dict[int, dict[str, TopProjections]], *, note: str = "") -> plt.Figure:
    """Fig. 4: one block per layer (side by side, as in the paper); within a block, rows are
    maps and columns the saved epochs; each cell the strongest activation of that map over the
    training images at that epoch, projected (cropped to the receptive field). ``note``: a
    second title line (e.g. which training images were mined)."""
    epochs = list(evo)
    require(len(epochs), "epochs")
    layers = list(evo[epochs[0]])
    require(len(layers), "layers")
    m = max(len(evo[epochs[0]][n].maps) for n in layers)
    fig, axes = plt.subplots(1, len(layers), squeeze=False,
                             figsize=(len(layers) * (0.75 * len(epochs) + 0.5), 0.8 * m + 1.0))
    for ax, n in zip(axes[0], layers, strict=True):
        rows = len(evo[epochs[0]][n].maps)
        tiles = [projection_to_rgb(evo[e][n].projections[i, 0]) for i in range(rows)
                 for e in epochs]
        grid = tile_grid(tiles, len(epochs), gap=max(1, tiles[0].shape[0] // 12))
        ax.imshow(grid, interpolation="nearest")
        step = grid.shape[1] / len(epochs)
        ax.set_xticks([step * (c + 0.5) for c in range(len(epochs))], [str(e) for e in epochs],
                      fontsize=7)
        step = grid.shape[0] / rows
        ax.set_yticks([step * (r + 0.5) for r in range(rows)],
                      [f"#{int(evo[epochs[0]][n].maps[r])}" for r in range(rows)], fontsize=7)
        ax.tick_params(length=0)
        ax.set_title(f"Layer {_number(n)}", fontsize=9)
        ax.set_xlabel("epoch", fontsize=7)
    fig.suptitle("Evolution of features through training (strongest activation, projected)"
                 + (f"\n{note}" if note else ""), fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["projection_to_rgb", "tile_grid", "top9_sheet", "plot_unpooling", "plot_top9",
           "plot_evolution"]
