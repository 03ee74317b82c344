"""Tables 4-7 and Fig. 9: transfer results beside the paper's numbers (plotting and
formatting only; the numbers come from :mod:`zflib.methods.transfer`).

Paper: Sec. 5.2 (Tables 4-6, Fig. 9), Sec. 5.3 (Table 7).
"""

from __future__ import annotations

import re
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from zflib.viz import require

LAYER_LABELS = {"conv1": "1", "conv2": "2", "conv3": "3", "conv4": "4", "conv5": "5",
                "fc6": "6", "fc7": "7"}


def model_label(name: str) -> str:
    """How tables and legends name a committed model: ``zfnet224`` -> ``ZFNet-224``,
    ``alexnet64`` -> ``AlexNet-64``; other names unchanged."""
    m = re.fullmatch(r"(zfnet|alexnet)(\d+)", name)
    return f"{'ZFNet' if m[1] == 'zfnet' else 'AlexNet'}-{m[2]}" if m else name


def _models(results: dict[str, Any]) -> tuple[str, str]:
    """(pretrained, from-scratch) model labels of Table 4's results (ZFNet-64 in results
    written before they named them)."""
    pre = model_label(results.get("model", "zfnet64"))
    return pre, model_label(results.get("scratch_model") or results.get("model", "zfnet64"))


def _curve_labels(results: dict[str, Any]) -> tuple[str, str]:
    """Fig. 9's (pretrained, from-scratch) labels: the from-scratch one names its model when
    another architecture stands in (full224: ZFNet-64)."""
    pre, scr = _models(results)
    return "pretrained (ours)", ("from scratch (ours)" if scr == pre
                                 else f"from scratch, {scr} (ours{_other_splits(results)})")


def _other_splits(results: dict[str, Any]) -> str:
    """"; other splits: caltech101" when the from-scratch baseline stands in from another
    copy's splits (``scratch_dataset``), else ""."""
    other = results.get("scratch_dataset")
    return f"; other splits: {other}" if other else ""


def source_title(results: dict[str, Any], dataset: str = "Caltech-101") -> str:
    """A figure title's start: ``dataset``, then the model when it is not ZFNet-64 and the
    images' upscaling when they were upscaled ("Caltech-101, ZFNet-224, 96-px images upscaled
    to 256") or "full-size images" when they came from the full-size copy
    (``caltech101-full``); just ``dataset`` for the 64-pixel runs."""
    parts = [dataset]
    if results.get("model", "zfnet64") != "zfnet64":
        parts.append(model_label(results["model"]))
    if results.get("source") == "caltech101-full":
        parts.append("full-size images")
    if results.get("upscaled_from"):
        size = re.search(r"upscaled to (\d+)", results.get("input", ""))
        parts.append(f"{results['upscaled_from']}-px images upscaled"
                     + (f" to {size[1]}" if size else ""))
    return ", ".join(parts)


def _get(d: dict, n: int | str) -> Any:
    """``d[n]`` whether the keys are ints (fresh results) or strings (read from JSON)."""
    return d[n] if n in d else d[str(n)]


def _sizes(d: dict) -> list[int]:
    return sorted(int(k) for k in d)


def _fmt(mean: float | None, std: float | None = None, *, paper: bool = False) -> str:
    """``mean ± std``; the paper's values keep their printed precision (0.33)."""
    if mean is None:
        return "-"
    if std is None:
        return f"{mean:g}" if paper else f"{mean:.1f}"
    return f"{mean:g} ± {std:g}" if paper else f"{mean:.1f} ± {std:.1f}"


def table4_markdown(results: dict[str, Any]) -> str:
    """Table 4 (or 5) as markdown: the paper's rows (transcribed) and ours, mean ± std."""
    paper_sizes = {int(k) for row in results["paper"].values() for k in row}
    sizes = sorted(set(results["table_sizes"]) | paper_sizes)
    name = {"caltech101": "Caltech-101", "caltech256": "Caltech-256"}.get(results["dataset"],
                                                                        results["dataset"])
    head = f"| {name}, train | " + " | ".join(f"{n}/class" for n in sizes) + " |"
    rows = [head, "|" + " --- |" * (len(sizes) + 1)]
    for name, row in results["paper"].items():
        cells = [_fmt(*_get(row, n), paper=True) if n in (int(k) for k in row) else "-"
                 for n in sizes]
        rows.append(f"| {name} (paper) | " + " | ".join(cells) + " |")
    pre, scr = _models(results)
    for label, key in ((f"Non-pretrained {scr} (ours{_other_splits(results)})", "scratch"),
                       (f"Tiny-ImageNet-pretrained {pre} (ours)", "pretrained")):
        part = results[key]
        have = set(_sizes(part))
        cells = [_fmt(_get(part, n)["mean"], _get(part, n)["std"]) if n in have else "-"
                 for n in sizes]
        splits = {len(_get(part, n)["runs"]) for n in have & set(sizes)}  # of the cells shown
        note = f", {'/'.join(map(str, sorted(splits)))} split(s)" if splits else ""
        epochs = results.get("scratch_epochs")  # the baseline's own budget
        if key == "scratch" and have and epochs:
            note = f", {epochs:g} epochs" + note
        rows.append(f"| {label}{note} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def fig9_markdown(results: dict[str, Any]) -> str:
    """Fig. 9's points as markdown: mean ± std at every training-set size, pretrained and from
    scratch, with the number of splits behind each cell."""
    pre, scr = _curve_labels(results)
    parts = [(label, results.get(key) or {}) for label, key in
             ((pre, "pretrained"), (scr, "scratch"))]
    sizes = sorted({n for _, part in parts for n in _sizes(part)})
    rows = ["| per class | " + " | ".join(map(str, sizes)) + " |",
            "|" + " --- |" * (len(sizes) + 1)]
    for label, part in parts:
        if part:
            have = set(_sizes(part))
            rows.append(f"| {label} | " + " | ".join(
                f"{_fmt(_get(part, n)['mean'], _get(part, n)['std'])} "
                f"({len(_get(part, n)['runs'])})" if n in have else "-" for n in sizes) + " |")
    return "\n".join(rows) + "\n\n(in brackets: splits)"


def table6_markdown(results: dict[str, Any]) -> str:
    """Table 6 as markdown: our per-class average precision (%) and mean, beside the paper's
    mean AP (its rows transcribed: only the means)."""
    rows = ["| class | AP (ours) |", "| --- | --- |"]
    rows += [f"| {name} | {ap:.1f} |" for name, ap in results["ap"].items()]
    rows.append(f"| **mean**, {results.get('model', 'ours')} | **{results['mean_ap']:.1f}** |")
    rows += [f"| mean, {name} (paper) | {ap:g} |" for name, ap in results["paper_mean_ap"].items()]
    return "\n".join(rows)


def table7_markdown(results: dict[str, Any]) -> str:
    """Table 7 as markdown: SVM and softmax per layer, ours beside the paper's (transcribed)."""
    paper = results["paper"]
    layers = list(next(iter(results["layers"].values())))
    rows = ["| layer (dims) | SVM (ours) | SVM (paper) | softmax (ours) | softmax (paper) |",
            "| --- | --- | --- | --- | --- |"]
    for layer in layers:
        cells = []
        for clf in ("svm", "softmax"):
            ours = results["layers"].get(clf, {}).get(layer)
            cells.append(_fmt(ours["mean"], ours["std"]) if ours else "-")
            ref = paper.get(f"{clf}:{layer}")
            cells.append(_fmt(*ref, paper=True) if ref else "-")
        rows.append(f"| {LAYER_LABELS.get(layer, layer)} ({results['dims'][layer]}) | "
                    + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_fig9(results: dict[str, Any], *, title: str = "Caltech-101") -> plt.Figure:
    """Fig. 9 analogue: mean per-class accuracy against training images per class, pretrained
    (softmax on fixed fc7) and trained from scratch, ± one std over splits (shaded; the legend
    says where a line has fewer splits at some sizes); the paper's Table 4 values as reference
    markers."""
    require(len(results.get("pretrained") or {}) + len(results.get("scratch") or {}),
            "training-set sizes")
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    pre, scr = _curve_labels(results)
    for key, label, color in (("pretrained", pre, "tab:blue"), ("scratch", scr, "tab:red")):
        part = results.get(key) or {}
        if not part:
            continue
        n = np.array(_sizes(part))
        if len(n) <= 3:  # a few sizes (Table 4's): say so, the line between them is no curve
            at = " and ".join([", ".join(map(str, n[:-1])), str(n[-1])] if len(n) > 1
                              else [str(n[0])])
            label = f"{label[:-1]}, at {at} per class only)"
        runs = {k: len(_get(part, k).get("runs", ())) for k in n}
        if len(set(runs.values())) > 1:  # fewer splits at some sizes: say which
            by = {c: [k for k in n if runs[k] == c]
                  for c in sorted(set(runs.values()), reverse=True)}
            label += "\n" + "; ".join(f"{c} split{'s' * (c > 1)} at " + ", ".join(map(str, ks))
                                      for c, ks in by.items())
        m = np.array([_get(part, k)["mean"] for k in n])
        s = np.array([_get(part, k)["std"] for k in n])
        ax.plot(n, m, "o-", color=color, label=label, ms=4)
        ax.fill_between(n, m - s, m + s, color=color, alpha=0.2, lw=0)
    for name, color in (("ImageNet-pretrained convnet", "tab:blue"),
                        ("Non-pretrained convnet", "tab:red")):
        row = results["paper"].get(name, {})
        pts = [(int(k), v[0]) for k, v in row.items() if v[0] is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), "*", color=color, ms=11, mfc="none",
                    label=f"{name} (paper, ImageNet 224 px)")
    chance = 100.0 / results["classes"]
    ax.axhline(chance, color="grey", lw=0.8, ls=":", label=f"chance ({chance:.1f}%)")
    ax.set_xlabel("training images per class")
    ax.set_ylabel("mean per-class accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title}: accuracy vs. training set size (cf. Fig. 9)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def plot_table7(results: dict[str, Any], *, title: str = "Caltech-101") -> plt.Figure:
    """Table 7 analogue: accuracy of a linear SVM and a softmax on each layer's features
    (error bars: std over splits); the paper's values as hollow markers."""
    require(len(results["layers"]), "classifiers")
    layers = list(next(iter(results["layers"].values())))
    require(len(layers), "layers")
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    x = np.arange(len(layers))
    for i, (clf, color) in enumerate((("svm", "tab:green"), ("softmax", "tab:purple"))):
        part = results["layers"].get(clf)
        if not part:
            continue
        m = [part[layer]["mean"] for layer in layers]
        s = [part[layer]["std"] for layer in layers]
        ax.errorbar(x + (i - 0.5) * 0.12, m, yerr=s, fmt="o-", color=color, ms=4, capsize=2,
                    label=f"{clf} (ours)")
        ref = [(j, results["paper"][f"{clf}:{layer}"][0]) for j, layer in enumerate(layers)
               if f"{clf}:{layer}" in results["paper"]]
        if ref:
            ax.plot(*zip(*ref, strict=True), "s", color=color, mfc="none", ms=8,
                    label=f"{clf} (paper)")
    ax.set_xticks(x, [LAYER_LABELS.get(layer, layer) for layer in layers])
    ax.set_xlabel("layer whose features are classified")
    ax.set_ylabel("mean per-class accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title}, {results['size']}/class: features of each layer (cf. Table 7)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


__all__ = ["model_label", "plot_fig9", "plot_table7", "source_title", "table4_markdown",
           "table6_markdown", "table7_markdown"]
