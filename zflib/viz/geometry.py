"""Fig. 3: the architecture drawn from measured stages (plotting only; the sizes come from
:func:`zflib.methods.geometry.stages`).

Paper: Fig. 3.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.patches import Polygon, Rectangle

from zflib.methods.geometry import Stage
from zflib.viz import require

COLOURS = {"input": "#d0d7de", "conv": "#4c72b0", "pool": "#dd8452", "fc": "#55a868"}


def _boxes(stages: list[Stage], input_size: int) -> list[tuple[str, str, str, float, float]]:
    """(kind, label above, label below, side, depth) per box: the input, each conv, each pool
    (its norm folded into its label, as Fig. 3 writes "contrast norm."), each fc. ``side`` is
    the square root of the map side over the input side (so that 6x6 stays visible beside
    224x224); ``depth`` grows with the log of the channel count."""
    boxes = [("input", "input", f"{input_size}x{input_size}x3", 1.0, _depth(3))]
    for s in stages:
        if s.kind == "norm":  # contrast normalisation keeps the shape: a note on the box before
            kind, above, below, side, depth = boxes[-1]
            boxes[-1] = (kind, above + "\n+ contrast norm.", below, side, depth)
        elif s.kind == "fc":
            boxes.append(("fc", s.name, f"{s.channels}", 0.0, _depth(s.channels)))
        else:
            op = (f"{s.channels} {s.kernel}x{s.kernel}/{s.stride}" if s.kind == "conv"
                  else f"max {s.kernel}x{s.kernel}/{s.stride}")
            boxes.append((s.kind, f"{s.name}\n{op}", f"{s.height}x{s.width}x{s.channels}",
                          math.sqrt(s.height / input_size), _depth(s.channels)))
    return boxes


def _depth(channels: int) -> float:
    return 0.03 * math.log2(max(channels, 2))


def _block(ax: plt.Axes, x: float, side: float, depth: float, colour: str) -> None:
    """A map stack in oblique projection: the front face ``side`` square, receding ``depth``."""
    y, dx, dy = -side / 2, depth, depth * 0.6
    kw = dict(facecolor=colour, edgecolor="black", linewidth=0.6)
    ax.add_patch(Polygon([(x, y + side), (x + dx, y + side + dy), (x + side + dx, y + side + dy),
                          (x + side, y + side)], alpha=0.55, **kw))
    ax.add_patch(Polygon([(x + side, y), (x + side + dx, y + dy), (x + side + dx, y + side + dy),
                          (x + side, y + side)], alpha=0.7, **kw))
    ax.add_patch(Rectangle((x, y), side, side, alpha=0.9, **kw))


def plot_fig3(models: dict[str, tuple[list[Stage], int]]) -> plt.Figure:
    """One row per model (``{title: (stages, input size)}``): its layers left to right, each a
    stack of maps (front face: the square root of its side relative to the input; depth: the log
    of its channels; fc layers as bars), labelled with the layer, its filters or pooling, and the
    size measured at its output."""
    require(len(models), "models")
    fig, axes = plt.subplots(len(models), 1, figsize=(16, 3.4 * len(models)), squeeze=False)
    for ax, (title, (stages, size)) in zip(axes[:, 0], models.items(), strict=True):
        x = 0.0
        for kind, above, below, side, depth in _boxes(stages, size):
            if kind == "fc":
                ax.add_patch(Rectangle((x, -0.3), 0.09, 0.6, facecolor=COLOURS[kind],
                                       edgecolor="black", linewidth=0.6))
                width = 0.09
            else:
                _block(ax, x, side, depth, COLOURS[kind])
                width = side + depth
            ax.text(x + width / 2, 0.66, above, ha="center", va="bottom", fontsize=7.5)
            ax.text(x + width / 2, -0.58, below, ha="center", va="top", fontsize=7.5,
                    fontweight="bold")
            x += max(width, 0.2) + 0.32
        ax.set_xlim(-0.1, x)
        ax.set_ylim(-0.8, 1.1)
        ax.set_aspect("equal")
        ax.set_title(title, loc="left", fontsize=10)
        ax.axis("off")
    fig.suptitle("Figure 3: the architecture, every size measured by a forward pass (front face: "
                 "square root of the map side relative to the input; depth: log of the maps)",
                 fontsize=11)
    fig.tight_layout()
    return fig
