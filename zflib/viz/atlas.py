"""The unit atlas's pages and pictures: HTML text and encoded images, nothing computed.

:mod:`zflib.apps.atlas` mines and projects; this module turns its records into the site's files,
all of which open from disk (``file://``): plain HTML, one shared stylesheet, a few lines of
inline script (ordering a layer's grid), images beside the pages; no server, no network.

Layout (every link relative)::

    index.html                 the model and its layers
    style.css
    <layer>/index.html         every map as a thumbnail of its strongest projection
    <layer>/map-0142.html      one map: its top-k projections beside their patches, large
    <layer>/map-0142.webp      that block (Fig. 2's, one map)
    <layer>/map-0142-thumb.webp

Projections are drawn as in Fig. 2 (:func:`zflib.viz.deconv.projection_to_rgb`: each scaled by
its own largest values, zero grey); small pictures are enlarged by the browser, pixel for pixel.

Paper: Sec. 4, Fig. 2 (the top 9 activations of a map, projected, beside their image patches).

Note: the paper shows a random subset of maps per layer; the atlas shows every map.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import torch
from PIL import Image

from zflib.methods.receptive import ReceptiveField
from zflib.viz.deconv import projection_to_rgb, top9_sheet

FORMATS = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}
SUFFIX = {"webp": "webp", "jpeg": "jpg", "png": "png"}
TILE_MAX = 128  # pixels: larger receptive fields (VGG16's) are stored scaled down to this
LOSSLESS_BELOW = 32  # pixels: smaller tiles (the first layers') are stored losslessly


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ModelCard:
    """What the index says about the model."""

    name: str  # e.g. "zfnet64"
    architecture: str  # one line, e.g. "zfnet, 56-pixel inputs, 200 classes"
    weights: str  # where the weights come from
    accuracy: str | None  # its validation accuracy, when known
    input_size: int  # pixels (square network input)
    features: str  # the printed feature layers
    rule: str = "deconvnet"  # the projections' backward rule (deconvnet, guided, gradient)


# how a page names each backward rule ("projected to pixels by ...")
_BY = {"deconvnet": "the deconvnet", "guided": "guided backprop", "gradient": "the gradient"}


@dataclass(frozen=True)
class LayerCard:
    """One layer: its name, folder in the site, number of maps and receptive field."""

    name: str
    folder: str
    maps: int
    rf: ReceptiveField


@dataclass(frozen=True)
class Link:
    href: str  # relative to the page that holds it
    label: str


@dataclass(frozen=True)
class MapCard:
    """One map page's content (the layer's top-k of this map, strongest first)."""

    layer: LayerCard
    index: int
    rank: int  # 1 = the layer's strongest map (by its top activation)
    values: Sequence[float]  # [k]
    images: Sequence[int]  # [k] image numbers (-1: empty slot)
    names: Sequence[str]  # [k] image names ("" for an empty slot)
    classes: Sequence[str | None]  # [k] their classes (None: unknown)
    ys: Sequence[int]
    xs: Sequence[int]
    prev: Link | None
    next: Link | None


# ----------------------------------------------------------------------------- file names


def layer_folder(layer: str) -> str:
    """A layer's folder in the site: its name, with anything but letters, digits, ``.``,
    ``_`` and ``-`` replaced by ``_`` (never starting with a dot)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", layer)
    return safe if safe and not safe.startswith(".") else f"_{safe}"


def map_stem(index: int, maps: int) -> str:
    """``map-0142``: zero-padded to 4 digits (more for layers of 10,000 maps or more)."""
    return f"map-{index:0{max(4, len(str(maps - 1)))}d}"


def map_files(layer: LayerCard, index: int, image_format: str) -> dict[str, str]:
    """The site paths of one map's files: ``page``, ``sheet`` (its block), ``thumb``."""
    stem = f"{layer.folder}/{map_stem(index, layer.maps)}"
    ext = SUFFIX[image_format]
    return {"page": f"{stem}.html", "sheet": f"{stem}.{ext}", "thumb": f"{stem}-thumb.{ext}"}


# ----------------------------------------------------------------------------- pictures


def _fit(rgb: np.ndarray, tile: int) -> np.ndarray:
    """Scale a picture made of ``tile``-pixel tiles so that a tile is at most TILE_MAX."""
    if tile <= TILE_MAX:
        return rgb
    s = TILE_MAX / tile
    h, w = rgb.shape[:2]
    im = Image.fromarray((rgb * 255).round().clip(0, 255).astype(np.uint8))
    im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    return np.asarray(im, dtype=np.float64) / 255


def sheet_image(projections: torch.Tensor, patches: torch.Tensor, *, image_format: str = "webp",
                quality: int = 85) -> bytes:
    """One map's block, encoded: its k projections [k, 3, P, P] in a square grid beside the
    image patches [k, C, P, P] (:func:`zflib.viz.deconv.top9_sheet`)."""
    tile = projections.shape[-1]
    return encode(_fit(top9_sheet(projections, patches), tile), tile, image_format=image_format,
                  quality=quality)


def thumbnail(projection: torch.Tensor, *, image_format: str = "webp", quality: int = 85) -> bytes:
    """A map's strongest projection [3, P, P], encoded (drawn as in Fig. 2)."""
    tile = projection.shape[-1]
    return encode(_fit(projection_to_rgb(projection), tile), tile, image_format=image_format,
                  quality=quality)


def encode(rgb: np.ndarray, tile: int, *, image_format: str = "webp", quality: int = 85) -> bytes:
    """RGB [H, W, 3] in 0..1 made of ``tile``-pixel tiles -> file bytes in ``image_format``
    (``webp``, ``jpeg``, ``png``); WebP tiles under :data:`LOSSLESS_BELOW` pixels are lossless
    (a lossy codec smears the single pixels of the first layers' small tiles)."""
    if image_format not in FORMATS:
        raise ValueError(f"image format {image_format!r} not valid; valid: {', '.join(FORMATS)}")
    im = Image.fromarray((rgb * 255).round().clip(0, 255).astype(np.uint8))
    buf = io.BytesIO()
    if image_format == "png":
        im.save(buf, format="PNG", optimize=True)
    elif image_format == "webp":
        # method 2: half the time of the default (4) for 2% more bytes on ZFNet-64's conv5
        im.save(buf, format="WEBP", quality=quality, method=2,
                lossless=tile < LOSSLESS_BELOW)
    else:
        im.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


# ----------------------------------------------------------------------------- pages

STYLE = """\
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px;
  padding: 0 16px 40px; color: #222; background: #fafafa; }
nav { margin: 12px 0; font-size: 14px; } nav a { margin-right: 14px; }
a { color: #1a5fb4; text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 24px 0 8px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f0f0f0; padding: 8px; overflow-x: auto; font-size: 12px; }
.muted { color: #777; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; }
.unit { display: block; width: 80px; text-align: center; font-size: 11px; color: #333; }
.unit img { width: 80px; height: 80px; image-rendering: pixelated; background: #888;
  display: block; }
.unit.dead img { opacity: 0.35; }
.order a { padding: 2px 8px; border: 1px solid #bbb; border-radius: 4px; }
.order a.on { background: #1a5fb4; color: #fff; border-color: #1a5fb4; }
img.sheet { width: 100%; max-width: 1000px; image-rendering: pixelated; display: block;
  margin: 8px 0; }
"""

_ORDER_SCRIPT = """\
<script>
(function () {
  var grid = document.getElementById("grid");
  function order() {
    var by = location.hash === "#order=strength" ? "strength" : "index";
    var units = Array.prototype.slice.call(grid.children);
    units.sort(function (a, b) {
      var d = by === "strength" ? b.dataset.strength - a.dataset.strength : 0;
      return d || a.dataset.index - b.dataset.index;
    });
    units.forEach(function (u) { grid.appendChild(u); });
    document.querySelectorAll(".order a").forEach(function (a) {
      a.classList.toggle("on", a.dataset.by === by);
    });
  }
  window.addEventListener("hashchange", order);
  order();
})();
</script>
"""


def _page(title: str, body: str, *, root: str, head: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n"
            f'<link rel="stylesheet" href="{root}style.css">\n{head}</head>\n'
            f"<body>\n{body}</body>\n</html>\n")


def _rf_text(rf: ReceptiveField) -> str:
    last = rf.offset + rf.size - 1
    return (f"{rf.size}&times;{rf.size} input pixels, stride {rf.stride}: unit (y, x) sees "
            f"input rows {rf.stride}y {_signed(rf.offset)} to {rf.stride}y {_signed(last)} "
            "and the same columns (outside the image: the network's zero padding)")


def _signed(n: int) -> str:
    return f"+ {n}" if n >= 0 else f"&minus; {-n}"


def _value(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else "&ndash;"


def index_page(card: ModelCard, layers: Sequence[LayerCard], *, source: str, images: int,
               k: int) -> str:
    """The site's front page: the model and a table of its layers."""
    rows = "".join(
        f'<tr><td><a href="{la.folder}/index.html">{escape(la.name)}</a></td>'
        f'<td class="num">{la.maps}</td><td class="num">{la.rf.size}</td>'
        f'<td class="num">{la.rf.stride}</td></tr>\n' for la in layers)
    total = sum(la.maps for la in layers)
    acc = escape(card.accuracy) if card.accuracy else '<span class="muted">not known</span>'
    body = (f"<h1>Unit atlas: {escape(card.name)}</h1>\n"
            f"<p>Every feature map of {len(layers)} layers ({total} maps), each with the "
            f"{k} strongest activations over {images} images of {escape(source)}, projected "
            f"back to pixels by {_BY[card.rule]} beside the image patches behind them "
            "(Zeiler &amp; Fergus, ECCV 2014, Fig. 2).</p>\n"
            f"<table>\n<tr><th>architecture</th><td>{escape(card.architecture)}</td></tr>\n"
            f"<tr><th>input</th><td>{card.input_size}&times;{card.input_size} pixels</td></tr>\n"
            f"<tr><th>weights</th><td>{escape(card.weights)}</td></tr>\n"
            f"<tr><th>validation accuracy</th><td>{acc}</td></tr>\n</table>\n"
            "<h2>Layers</h2>\n<table>\n<tr><th>layer</th><th class=\"num\">maps</th>"
            "<th class=\"num\">receptive field (px)</th><th class=\"num\">stride (px)</th></tr>\n"
            f"{rows}</table>\n"
            f"<h2>Feature layers</h2>\n<pre>{escape(card.features)}</pre>\n")
    return _page(f"{card.name}: unit atlas", body, root="")


def layer_page(card: ModelCard, layer: LayerCard, strengths: Sequence[float], *,
               image_format: str) -> str:
    """A layer's grid: every map as the thumbnail of its strongest projection, linked to its
    page, ordered by map index (default) or by activation strength (``#order=strength``)."""
    units = []
    for m, v in enumerate(strengths):
        files = map_files(layer, m, image_format)
        page, thumb = (files[f].split("/", 1)[1] for f in ("page", "thumb"))
        s = v if math.isfinite(v) else -1e308
        dead = "" if v > 0 else " dead"
        units.append(f'<a class="unit{dead}" href="{page}" data-index="{m}" data-strength="{s!r}"'
                     f' title="map {m}: top activation {_value(v)}">'
                     f'<img src="{thumb}" alt="map {m}" width="80" height="80">'
                     f"{m}</a>\n")
    alive = sum(1 for v in strengths if v > 0)
    body = (f'<nav><a href="../index.html">{escape(card.name)}</a></nav>\n'
            f"<h1>{escape(layer.name)}: {layer.maps} maps</h1>\n"
            f"<p>Each map's strongest activation over the images, projected to pixels and "
            f"cropped to the receptive field ({_rf_text(layer.rf)}). {alive} of {layer.maps} "
            "maps ever fire (faded: never).</p>\n"
            '<p class="order">order by <a href="#order=index" data-by="index">map index</a> '
            '<a href="#order=strength" data-by="strength">activation strength</a></p>\n'
            f'<div class="grid" id="grid">\n{"".join(units)}</div>\n{_ORDER_SCRIPT}')
    return _page(f"{card.name} {layer.name}", body, root="../")


def class_counts(classes: Sequence[str | None]) -> list[tuple[str, int]]:
    """The classes of a map's top images, most frequent first (ties in first-seen order)."""
    return Counter(c for c in classes if c).most_common()


def map_page(card: ModelCard, m: MapCard, *, image_format: str) -> str:
    """One map: its top-k projections beside their patches (one picture, large), the
    receptive field, the classes of its top images, a table of the k, previous / next."""
    la = m.layer
    files = map_files(la, m.index, image_format)
    sheet = files["sheet"].split("/", 1)[1]
    k = len(m.values)
    rows = []
    for r in range(k):
        if m.images[r] < 0:
            rows.append(f'<tr><td class="num">{r + 1}</td><td colspan="5" class="muted">'
                        "(fewer images than k)</td></tr>\n")
            continue
        top, left = m.ys[r] * la.rf.stride + la.rf.offset, m.xs[r] * la.rf.stride + la.rf.offset
        rows.append(f'<tr><td class="num">{r + 1}</td><td class="num">{_value(m.values[r])}</td>'
                    f"<td>{escape(m.names[r])}</td><td>{escape(m.classes[r] or '')}</td>"
                    f'<td class="num">({m.ys[r]}, {m.xs[r]})</td>'
                    f'<td class="num">rows {top}..{top + la.rf.size - 1}, cols '
                    f"{left}..{left + la.rf.size - 1}</td></tr>\n")
    counts = class_counts(m.classes)
    classes = (", ".join(f"{escape(c)} &times;{n}" for c, n in counts) if counts
               else '<span class="muted">not known for these images</span>')
    nav = [f'<a href="../index.html">{escape(card.name)}</a>',
           f'<a href="index.html">{escape(la.name)}</a>']
    head = ""
    for rel, link, arrow in (("prev", m.prev, "&larr; "), ("next", m.next, "")):
        if link is not None:
            label = f"{arrow}{escape(link.label)}{' &rarr;' if rel == 'next' else ''}"
            nav.append(f'<a rel="{rel}" href="{link.href}">{label}</a>')
            head += f'<link rel="{rel}" href="{link.href}">\n'
    side = math.ceil(math.sqrt(k))
    dead = "" if m.values[0] > 0 else (' <span class="muted">(never fires: its projections '
                                       "are all zero)</span>")
    body = (f'<nav>{" ".join(nav)}</nav>\n'
            f"<h1>{escape(la.name)}, map {m.index}</h1>\n"
            f"<p>Top activation {_value(m.values[0])}, the layer's {_ordinal(m.rank)}strongest "
            f"of {la.maps} maps{dead}.</p>\n"
            f'<img class="sheet" src="{sheet}" alt="{escape(la.name)} map {m.index}: top-{k} '
            'projections and image patches">\n'
            f"<p>Left: the {k} strongest activations of this map, each projected to pixels by "
            f"{_BY[card.rule]} ({side}&times;{side}, strongest top left, row by row); right: the "
            "image patches behind them. Both are cropped to the receptive field, "
            f"{_rf_text(la.rf)}.</p>\n"
            f"<h2>Classes of the top images</h2>\n<p>{classes}</p>\n"
            "<h2>The top activations</h2>\n<table>\n<tr><th class=\"num\">#</th>"
            "<th class=\"num\">activation</th><th>image</th><th>class</th>"
            "<th class=\"num\">unit (y, x)</th><th class=\"num\">input pixels</th></tr>\n"
            f"{''.join(rows)}</table>\n")
    return _page(f"{card.name} {la.name} map {m.index}", body, root="../", head=head)


def _ordinal(n: int) -> str:
    """``""`` for 1 (the strongest), else ``"2nd "``, ``"13th "``, ..."""
    if n == 1:
        return ""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} "


__all__ = ["ModelCard", "LayerCard", "MapCard", "Link", "FORMATS", "STYLE", "layer_folder",
           "map_stem", "map_files", "sheet_image", "thumbnail", "encode", "index_page",
           "layer_page", "map_page", "class_counts"]
