"""The layers picture of docs/architecture.md, drawn from the imports.

``python -m zflib.apps.architecture_map`` reads the import graph of ``zflib`` with grimp (the
library under import-linter, which ``make lint`` runs on the same layers), groups the modules by
layer (:data:`LAYERS`, the order of the layers contract in ``pyproject.toml``), and writes

- a Mermaid graph between the markers of ``docs/architecture.md`` (GitHub draws it), each
  arrow labelled with the number of imports it stands for, and a table of each layer's modules
  (the picture holds the structure only, so an edit inside a module does not change it;
  ``--lines`` prints each layer's lines of code);
- ``docs/architecture.png``: the same graph drawn with matplotlib, its edge list stored in the
  PNG's ``zflib-edges`` text chunk.

``tests/apps/test_architecture_map.py`` regenerates both from the imports and fails when the
committed ones differ, so the picture cannot drift from the code.

Paper: none (the package's own structure).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from zflib.config import repo_root

# top to bottom: the layers contract of pyproject.toml; siblings in one tuple
LAYERS: tuple[tuple[str, ...], ...] = (
    ("apps",), ("paper",), ("viz",), ("methods",), ("training", "memo"), ("data",),
    ("checkpoint", "distributed", "results", "progress"), ("config",),
)
BEGIN, END = "<!-- architecture:begin -->", "<!-- architecture:end -->"


@dataclass(frozen=True)
class LayerGraph:
    """The layers (top first), each one's modules and lines, and the imports between them.

    Attributes:
        modules: layer -> its modules (dotted names), sorted.
        lines: layer -> lines of code in its modules.
        edges: (importer layer, imported layer) -> number of module-to-module imports.
    """

    modules: dict[str, list[str]]
    lines: dict[str, int]
    edges: dict[tuple[str, str], int]


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and any(parts[1] in row for row in LAYERS) else None


def build(package: str = "zflib") -> LayerGraph:
    """The :class:`LayerGraph` of ``package`` from its import graph (grimp)."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)
    root = Path(__import__(package).__file__).parent
    modules: dict[str, list[str]] = {name: [] for row in LAYERS for name in row}
    lines = dict.fromkeys(modules, 0)
    edges: dict[tuple[str, str], int] = {}
    for m in sorted(graph.modules):
        layer = _layer_of(m)
        if layer is None:
            continue
        modules[layer].append(m)
        rel = Path(*m.split(".")[1:])
        path = next((p for p in (root / rel.with_suffix(".py"), root / rel / "__init__.py")
                     if p.is_file()), None)
        if path is not None:
            lines[layer] += len(path.read_text().splitlines())
        for imported in graph.find_modules_directly_imported_by(m):
            other = _layer_of(imported)
            if other is not None and other != layer:
                edges[(layer, other)] = edges.get((layer, other), 0) + 1
    return LayerGraph(modules, lines, dict(sorted(edges.items())))


def edge_text(g: LayerGraph) -> str:
    """The edge list, one ``importer -> imported: count`` a line (what the PNG stores)."""
    return "\n".join(f"{a} -> {b}: {n}" for (a, b), n in g.edges.items())


def mermaid(g: LayerGraph) -> str:
    """A Mermaid ``flowchart TB`` of the layers; each arrow labelled with its imports."""
    out = ["```mermaid", "flowchart TB"]
    for row in LAYERS:
        for name in row:
            n = len(g.modules[name])
            out.append(f'    {name}["zflib.{name}<br/>{n} module{"s" * (n > 1)}"]')
    out += [f"    {a} -->|{n}| {b}" for (a, b), n in g.edges.items()]
    out.append("```")
    return "\n".join(out)


def table(g: LayerGraph) -> str:
    """A markdown table: layer (top first) and its modules."""
    out = ["| layer | modules |", "| --- | --- |"]
    for row in LAYERS:
        for name in row:
            mods = ", ".join(f"`{m.split('.', 2)[-1]}`" for m in g.modules[name]
                             if m != f"zflib.{name}")
            out.append(f"| `zflib.{name}` | {mods or '(one module)'} |")
    return "\n".join(out)


def section(g: LayerGraph) -> str:
    """What goes between the markers of docs/architecture.md."""
    return f"{BEGIN}\n{mermaid(g)}\n\n{table(g)}\n{END}"


def draw_png(g: LayerGraph, path: Path) -> None:
    """The layers as boxes top to bottom, arrows for the imports, labelled with their counts;
    the edge list stored in the PNG's ``zflib-edges`` text chunk."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig = Figure(figsize=(11, 9.5))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1, 10)
    ax.set_ylim(0, len(LAYERS) * 1.2)
    ax.axis("off")
    box: dict[str, tuple[float, float, float, int]] = {}  # name -> x, y, width, row
    for i, row in enumerate(LAYERS):
        y = (len(LAYERS) - i - 0.5) * 1.2
        for j, name in enumerate(row):
            x, w = 9 * (j + 0.5) / len(row), min(3.4, 7.6 / len(row))
            box[name] = (x, y, w, i)
            ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.3), w, 0.6,
                                        boxstyle="round,pad=0.05", fc="#e8eef7", ec="#35507a"))
            n = len(g.modules[name])
            ax.text(x, y + 0.08, f"zflib.{name}", ha="center", va="center", fontsize=10,
                    weight="bold")
            ax.text(x, y - 0.16, f"{n} module{'s' * (n > 1)}",
                    ha="center", va="center", fontsize=7.5)
    for k, ((a, b), n) in enumerate(g.edges.items()):
        (xa, ya, wa, ra), (xb, yb, wb, rb) = box[a], box[b]
        if rb - ra == 1:  # the next row: straight down, spread along the box
            off = 0.35 * ((k % 5) - 2)
            start, end, rad = (xa + off, ya - 0.33), (xb + off * wb / wa, yb + 0.33), 0.0
        else:  # further down: an arc outside the boxes, right or left in turn
            side = 1 if k % 2 else -1
            start, end = (xa + side * (wa / 2 + 0.06), ya), (xb + side * (wb / 2 + 0.06), yb)
            rad = -side * (0.18 + 0.04 * (k % 4))
        ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=9, lw=0.7,
                                     color="#5a6e8c", alpha=0.75))
        dx, dy = end[0] - start[0], end[1] - start[1]
        mx, my = (start[0] + end[0]) / 2 + rad * dy / 2, (start[1] + end[1]) / 2 - rad * dx / 2
        ax.text(mx, my, str(n), fontsize=7, color="#333", ha="center", va="center",
                bbox=dict(fc="white", ec="none", pad=0.2))
    fig.savefig(path, dpi=80, metadata={"zflib-edges": edge_text(g)})


def write(root: Path | None = None) -> tuple[Path, Path]:
    """Regenerate docs/architecture.md's section and docs/architecture.png."""
    root = root or repo_root()
    g = build()
    doc = root / "docs" / "architecture.md"
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{doc} has no {BEGIN} ... {END} markers")
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section(g), text,
                  flags=re.S)
    doc.write_text(text)
    png = root / "docs" / "architecture.png"
    draw_png(g, png)
    return doc, png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.apps.architecture_map",
                                description=__doc__.split("\n")[0])
    p.add_argument("--lines", action="store_true",
                   help="print each layer's lines of code instead of writing the picture")
    args = p.parse_args(argv)
    if args.lines:
        g = build()
        for row in LAYERS:
            for name in row:
                print(f"zflib.{name}: {len(g.modules[name])} modules, {g.lines[name]:,} lines")
        return 0
    for path in write():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
