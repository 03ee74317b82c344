"""Correspondence: does masking the same part of different dogs change features the same way?

For five frontal dog faces, mask the right eye, the left eye, the nose, or a random region of
the same size, and take ``eps_i = x_i - x~_i``, the change of image i's feature vector at layer
l. The paper's consistency score is

    Delta_l = sum over pairs i != j of H(sign(eps_i), sign(eps_j)),

H the Hamming distance. Lower means that the part changes the features of different images in
the same way: the network has implicitly found the part's correspondence across images.

Normalisation (the paper's Table 1 gives 0.07..0.11, so its sums must be normalised): we divide
each Hamming distance by the feature dimension and average over the 10 unordered pairs, i.e.
:func:`sign_change` is the mean fraction of features whose sign of change differs between two
images. The paper does not say what its +- is; we report the standard deviation over the pairs
(pooled over the draws for random regions) and, for random regions, also the standard deviation
of Delta over the draws (``draw_std``).

Note: our scores (0.17..0.22, ZFNet-64, five dogs, ``full`` profile) lie well above the
paper's (0.07..0.11), most likely because the score counts a feature that a mask changes in one
image and not in the other as a difference, and here a mask reaches nearly every live feature:
conv5 is a 7 x 7 map (12544 features) on a 56-pixel crop, so an eye box (2% of the crop) changes
11-12% of its features, 95-97% of those non-zero before or after masking, while about 80% are
zero before and after in both images of a pair and count as agreement. Of the right eye's 0.172
at conv5, 0.156 is features changed in one image only and 0.016 shared changes of opposite
sign; at fc7 every non-zero feature changes. The level thus follows the layer's sparsity and
the share of it a mask reaches, not the paper's network: compare rows within a column, not with
the paper's values; and unlike the paper, parts do not beat random regions at layer 5 here
(0.172, 0.176, 0.185 against 0.173; 69%, 93%, 72% of random regions of each part's size score
as low or lower).

Beyond the paper, :func:`decompose` takes the score apart into how many features a mask
changes and how consistently two images' shared changes point: the score alone mixes the two.

Paper: Sec. 5 ("Correspondence Analysis"), Fig. 8, Table 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zflib.config import Config
from zflib.data import TINY_SIZE, ImageSet, load_split, resize, to_input
from zflib.data.natural import load_imagewoof
from zflib.methods.activations import extract, layer_list
from zflib.methods.occlusion import grey_baseline
from zflib.training.models import ConvNet

PARTS: tuple[str, ...] = ("right_eye", "left_eye", "nose")
ROWS: tuple[str, ...] = (*PARTS, "random")

# Paper, Table 1 (mean feature sign change, layer 5 / layer 7, mean +- std).
PAPER_TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    "right_eye": {"layer5": (0.067, 0.007), "layer7": (0.069, 0.015)},
    "left_eye": {"layer5": (0.069, 0.007), "layer7": (0.068, 0.013)},
    "nose": {"layer5": (0.079, 0.017), "layer7": (0.069, 0.011)},
    "random": {"layer5": (0.107, 0.017), "layer7": (0.073, 0.014)},
}

ANNOTATIONS = Path(__file__).resolve().parents[1] / "annotations" / "dog_parts.json"
# nine more dogs, for the analyses beyond Table 1 (which keeps the paper's five)
MORE_DOGS = ANNOTATIONS.with_name("dog_parts_more.json")
# five frontal dogs of Imagewoof2's validation split at natural resolution, boxes in the 224
# centre crop of the 256-pixel image (the full224 profile's, Config.dog_parts)
NATURAL_DOGS = ANNOTATIONS.with_name("dog_parts_natural.json")
# the datasets an annotation file's "dataset" names (absent: Tiny ImageNet)
DOG_DATASETS = ("tiny-imagenet", "imagewoof2")


@dataclass
class DogParts:
    """The annotated dogs: ``index`` into a validation :class:`ImageSet`, their ``files``,
    ``names`` and, per part, ``boxes`` int64 [N, 4] = (x0, y0, x1, y1) in stored-image pixels
    (end-exclusive)."""

    index: torch.Tensor
    files: list[str]
    names: list[str]
    boxes: dict[str, torch.Tensor]


def load_dog_parts(data: ImageSet,
                   path: str | os.PathLike | Sequence[str | os.PathLike] | None = None
                   ) -> DogParts:
    """Read the part boxes (``zflib/annotations/dog_parts.json``, or the files ``path`` names,
    their dogs in turn) and find the images in ``data`` (the validation split, loaded without
    ``val_limit``, or :func:`load_dogs`' result; files are matched by name). Boxes drawn on
    the 64-pixel images are scaled to ``data``'s stored images (:func:`box_scale`: 4x for 256
    pixels), as the images were; boxes drawn in the centre crop (``"crop224"``) are shifted
    into the stored image (:func:`box_offset`: 16 pixels at 256).

    Raises ``ValueError`` naming the files missing from ``data`` or a box outside the image.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path or [ANNOTATIONS])
    side = data.images.shape[1]
    docs = [json.loads(Path(p).read_text()) for p in paths]
    entries = [e for doc in docs for e in doc["images"]]
    scale = [box_scale(doc.get("coordinates", "image64"), side) for doc in docs
             for _ in doc["images"]]
    offset = [box_offset(doc.get("coordinates", "image64"), side) for doc in docs
              for _ in doc["images"]]
    # a file is matched by its path in the set (Imagewoof2's "val/<wnid>/<name>"), or by its
    # name (Tiny ImageNet's annotations name "val_123.JPEG" of "val/images/val_123.JPEG")
    where = {**{Path(p).name: i for i, p in enumerate(data.paths)},
             **{p: i for i, p in enumerate(data.paths)}}
    missing = [e["file"] for e in entries if e["file"] not in where]
    if missing:
        raise ValueError(f"annotated images {missing} not in this split of {len(data)} images "
                         "(load the validation split without val_limit)")
    boxes = {}
    for part in PARTS:
        b = torch.tensor([e["boxes"][part] for e in entries], dtype=torch.long)
        b = b * torch.tensor(scale, dtype=torch.long)[:, None] + \
            torch.tensor(offset, dtype=torch.long)[:, None]
        bad = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > side) | (b[:, 3] > side) | \
              (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
        if bad.any():
            raise ValueError(f"{part} box {b[bad][0].tolist()} not inside the 0..{side} image")
        boxes[part] = b
    return DogParts(index=torch.tensor([where[e["file"]] for e in entries]),
                    files=[e["file"] for e in entries], names=[e["name"] for e in entries],
                    boxes=boxes)


def dog_files(cfg: Config) -> list[Path]:
    """The annotation files of ``cfg.dog_parts`` (names in ``zflib/annotations/``): the first
    holds Table 1's five dogs, all of them together the dogs of the analyses beyond it.

    Paper: Sec. 5, Table 1 (five dogs)."""
    if not cfg.dog_parts:
        raise ValueError("dog_parts is empty; give at least one annotation file, e.g. "
                         "('dog_parts.json',)")
    files = [ANNOTATIONS.with_name(name) for name in cfg.dog_parts]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        valid = sorted(p.name for p in ANNOTATIONS.parent.glob("dog_parts*.json"))
        raise ValueError(f"dog_parts {missing} not in zflib/annotations; valid: "
                         f"{', '.join(valid)}")
    return files


def dog_dataset(path: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> str:
    """The dataset whose validation split holds the dogs of the annotation files ``path``
    (their ``"dataset"``; ``tiny-imagenet`` where absent). Raises ``ValueError`` when the
    files name several, or one not in :data:`DOG_DATASETS`."""
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path or [ANNOTATIONS])
    names = {json.loads(Path(p).read_text()).get("dataset", "tiny-imagenet") for p in paths}
    if len(names) != 1 or not names <= set(DOG_DATASETS):
        raise ValueError(f"annotation files of the datasets {sorted(names)}; want one of "
                         f"{', '.join(DOG_DATASETS)} for all of them")
    return names.pop()


def load_dogs(cfg: Config,
              path: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> ImageSet:
    """The annotated dogs alone (the files ``path`` names, as :func:`load_dog_parts`), from the
    validation split of their dataset (:func:`dog_dataset`), stored at ``cfg.image_size``.

    Tiny ImageNet's split is loaded at its own 64 pixels and only the dogs are resized
    (:func:`zflib.data.transforms.resize`, as :func:`zflib.data.load_split` resizes every
    image; at 256 pixels the whole split would take 2 GB and 40 s for 14 images). Imagewoof2's
    (natural resolution, :func:`zflib.data.natural.load_imagewoof`) is decoded at
    ``cfg.image_size`` from its 320-pixel files. Pass the result to :func:`load_dog_parts`.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path or [ANNOTATIONS])
    files = {e["file"] for p in paths for e in json.loads(Path(p).read_text())["images"]}
    if dog_dataset(paths) == "imagewoof2":
        val = load_imagewoof("val", cfg.image_size)
        return val.subset([i for i, p in enumerate(val.paths) if p in files])
    native = dataclasses.replace(cfg, image_size=TINY_SIZE, val_limit=0)
    val = load_split(native if cfg.dataset == "tiny-imagenet" else cfg, "val")
    dogs = val.subset([i for i, p in enumerate(val.paths) if Path(p).name in files])
    if dogs.images.shape[1] == cfg.image_size:
        return dogs
    return ImageSet(resize(dogs.images, cfg.image_size), dogs.labels, dogs.classes, dogs.names,
                    dogs.paths, dogs.failed)


def crop_side(crop: int) -> int:
    """The stored image whose centre ``crop`` x ``crop`` the network sees, at this project's
    ratio of 8 to 7 (Sec. 3: 224 of 256; 56 of 64). Raises ``ValueError`` for a crop that is no
    multiple of 7."""
    if crop < 7 or crop % 7:
        raise ValueError(f"crop {crop} is no centre crop of a stored image (8:7, as 224 of 256); "
                         "valid: a multiple of 7, e.g. 56 or 224")
    return crop * 8 // 7


def box_scale(coordinates: str, side: int) -> int:
    """Stored-image pixels per annotation pixel: the boxes are drawn on ``coordinates``
    ("image64": the 64-pixel images); a stored image of ``side`` pixels resized from them (256
    at Fig. 3's geometry, by :func:`zflib.data.transforms.resize`) spans ``side / 64`` pixels for
    each, so pixel i of the annotation covers pixels ``i * scale .. (i + 1) * scale - 1``.
    ``"cropN"``: boxes in pixels of the centre N x N crop of the stored image of
    :func:`crop_side` (N) pixels (``crop224``: of 256), which must be ``side``: scale 1, the
    crop's offset added by :func:`box_offset`.

    Paper: Sec. 5, Fig. 8 (the masked parts, at the network's input size)."""
    if coordinates.startswith("crop"):
        box_offset(coordinates, side)  # checks the crop and side
        return 1
    source = coordinates.removeprefix("image")
    if not source.isdigit() or int(source) < 1:
        raise ValueError(f"annotation coordinates {coordinates!r} not valid; valid: 'image64' "
                         "(pixels of the 64-pixel image), 'imageN', or 'crop224' (pixels of "
                         "the 224 centre crop of the 256-pixel image), 'cropN'")
    if side % int(source):
        raise ValueError(f"stored images of {side} pixels are no whole multiple of the "
                         f"annotations' {source}; valid: {source}, {2 * int(source)}, ...")
    return side // int(source)


def box_offset(coordinates: str, side: int) -> int:
    """Where annotation pixel 0 lies in the stored image of ``side`` pixels, on both axes:
    0 for boxes drawn on the whole image (``"imageN"``), the centre crop's offset for boxes
    drawn in it (``"cropN"``: ``(side - N) // 2``, 16 for ``crop224`` at 256). A ``cropN``
    box is in pixels of the centre N crop of the :func:`crop_side` (N)-pixel image and fits no
    other: ``side`` must be that. Raises ``ValueError`` naming the valid side.

    Paper: Sec. 3 (224 crops of 256), Sec. 5, Fig. 8."""
    if not coordinates.startswith("crop"):
        box_scale(coordinates, side)  # checks the coordinates
        return 0
    n = coordinates.removeprefix("crop")
    if not n.isdigit():
        raise ValueError(f"annotation coordinates {coordinates!r} not valid; valid: 'cropN', "
                         "e.g. 'crop224'")
    want = crop_side(int(n))
    if side != want:
        raise ValueError(f"boxes in the {n}-pixel centre crop ({coordinates!r}) fit stored "
                         f"images of {want} pixels, not {side}; valid: {want}")
    return (side - int(n)) // 2


def mask_inputs(x: torch.Tensor, boxes: torch.Tensor, fill: torch.Tensor, *,
                offset: int) -> torch.Tensor:
    """Cover one box per image with ``fill``.

    Args:
        x: network inputs [N, 3, S, S].
        boxes: int [N, 4] (x0, y0, x1, y1) in stored-image pixels, end-exclusive.
        fill: [3, S, S] input values of the mask (:func:`zflib.methods.occlusion.grey_baseline`).
        offset: where the crop starts in the stored image ((H - S) // 2 for the centre crop).

    Returns a masked copy; box parts outside the crop are ignored.

    Paper: Sec. 5, Fig. 8 (the masked parts).
    """
    s = x.shape[-1]
    ar = torch.arange(s, device=x.device) + offset
    b = boxes.to(x.device)
    in_x = (ar[None] >= b[:, 0:1]) & (ar[None] < b[:, 2:3])  # [N, S]
    in_y = (ar[None] >= b[:, 1:2]) & (ar[None] < b[:, 3:4])
    inside = (in_y[:, :, None] & in_x[:, None, :])[:, None]
    return torch.where(inside, fill.to(x), x).contiguous()


def random_boxes(boxes: torch.Tensor, *, lo: int, hi: int,
                 generator: torch.Generator) -> torch.Tensor:
    """Boxes of the same sizes as ``boxes`` [N, 4] placed uniformly at random inside
    ``[lo, hi)`` on both axes (the part of the stored image the network sees).

    Paper: Sec. 5, Table 1 (the "random" row).
    """
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if (w > hi - lo).any() or (h > hi - lo).any():
        raise ValueError(f"a box is larger than the visible range {lo}..{hi}")
    x0 = lo + (torch.rand(len(boxes), generator=generator) * (hi - lo - w + 1)).long()
    y0 = lo + (torch.rand(len(boxes), generator=generator) * (hi - lo - h + 1)).long()
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1)


def aligned_boxes(boxes: torch.Tensor, *, lo: int, hi: int,
                  generator: torch.Generator) -> torch.Tensor:
    """Boxes of the same sizes as ``boxes`` [N, 4] all centred on one random point, drawn
    uniformly among those where every box fits inside ``[lo, hi)`` on both axes.

    The control for spatial alignment: conv5 features are maps, so masking the same place in
    every image changes the same features, whatever lies there. A part that beats these
    regions is consistent beyond where it sits in the frame.

    Paper: Sec. 5, Table 1 (beyond the paper: a control for where a part sits).
    """
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if (w > hi - lo).any() or (h > hi - lo).any():
        raise ValueError(f"a box is larger than the visible range {lo}..{hi}")

    def centre(size: torch.Tensor) -> torch.Tensor:
        first, last = lo + int((size // 2).max()), hi - int((size - size // 2).max())
        return first + (torch.rand(1, generator=generator) * (last - first + 1)).long()

    x0, y0 = centre(w) - w // 2, centre(h) - h // 2
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1)


def sign_change(eps: torch.Tensor) -> torch.Tensor:
    """Normalised Hamming distances between ``sign(eps_i)`` and ``sign(eps_j)`` for every
    unordered pair i < j of the rows of ``eps`` [N, D]: [N (N - 1) / 2] fractions in 0..1.

    Their mean is the paper's Delta_l divided by N (N - 1) D.

    Paper: Sec. 5, Table 1.
    """
    if eps.ndim != 2 or len(eps) < 2:
        raise ValueError(f"eps must be [N, D] with N >= 2, got {tuple(eps.shape)}")
    s = torch.sign(eps)
    i, j = torch.triu_indices(len(s), len(s), offset=1)
    return (s[i] != s[j]).double().mean(dim=1)


def decompose(eps: torch.Tensor) -> dict[str, float]:
    """Split the sign change of ``eps`` [N, D] into its two causes.

    ``changed``: the share of features a mask changes at all (mean over the images);
    ``disagree``: among the features that both images of a pair change, the share whose
    changes have opposite signs (mean over the unordered pairs that share one; 0.5 is chance).
    :func:`sign_change` counts a feature that one mask changes and the other does not as a
    difference too, so a mask that reaches more features scores higher whatever their signs;
    ``disagree`` is the consistency the paper's argument is about, free of that extent.

    Paper: Sec. 5, Table 1 (an analysis beyond it).
    """
    s = torch.sign(eps)
    i, j = torch.triu_indices(len(s), len(s), offset=1)
    both = (s[i] != 0) & (s[j] != 0)
    shared = both.sum(dim=1)
    opposite = ((s[i] != s[j]) & both).sum(dim=1)
    keep = shared > 0
    disagree = (opposite[keep].double() / shared[keep]).mean() if keep.any() else torch.nan
    return {"changed": float((s != 0).double().mean()), "disagree": float(disagree)}


def _features(model: ConvNet, x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
    acts = extract(model, x, list(layers), batch_size=len(x))
    return {k: v.flatten(1).double() for k, v in acts.items()}


def _summarise(scores: dict[str, list[torch.Tensor]],
               parts_of: dict[str, list[dict[str, float]]], draws: int) -> tuple[dict, dict]:
    """Table 1's rows and the decomposition from the per-set results, the sets ordered as
    :func:`correspondence_table` builds them: the parts, then ``draws`` rounds of random
    regions of each part's size, then as many aligned ones."""
    layers = list(scores)
    first = {"random": len(PARTS), "random_aligned": len(PARTS) * (1 + draws)}
    rows: dict[str, dict[str, dict[str, float]]] = {
        p: {k: _stats(scores[k][i][None]) for k in layers} for i, p in enumerate(PARTS)}
    rows["random"] = {k: _stats(torch.stack(scores[k][first["random"]:first["random_aligned"]]))
                      for k in layers}
    draws_of = {p: [i] for i, p in enumerate(PARTS)}
    draws_of.update({c: list(range(at, at + draws * len(PARTS))) for c, at in first.items()})
    decomposition = {row: {k: {m: _nanmean([parts_of[k][i][m] for i in idx])
                               for m in ("changed", "disagree")} for k in layers}
                     for row, idx in draws_of.items()}
    for i, p in enumerate(PARTS):  # how often a random region of the part's size does as well
        same = {c: draws_of[c][i::len(PARTS)] for c in first}  # the sets of part i's size
        for k in layers:
            d = decomposition[p][k]
            d["score_rank"] = _share_at_most([float(scores[k][j].mean()) for j in same["random"]],
                                             float(scores[k][i].mean()))
            for c in first:
                d[f"{c}_disagree"] = [parts_of[k][j]["disagree"] for j in same[c]]
                d[f"{c}_disagree_rank"] = _share_at_most(d[f"{c}_disagree"],
                                                         parts_of[k][i]["disagree"])
    return rows, decomposition


@torch.no_grad()
def correspondence_table(model: ConvNet, images: torch.Tensor, boxes: dict[str, torch.Tensor],
                         mean: torch.Tensor, cfg: Config, *,
                         layers: tuple[str, ...] = ("conv5", "fc7"), draws: int = 100,
                         seed: int = 0, chunk: int = 15) -> dict:
    """Mean feature sign change for each part and for random regions (Table 1).

    Args:
        model: the network; run in eval mode by :func:`zflib.methods.activations.extract`, its modes
            restored afterwards.
        images: uint8 [N, H, W, 3] the dogs (N >= 2; the paper uses 5).
        boxes: part -> int [N, 4] boxes (:class:`DogParts`), parts ``right_eye``, ``left_eye``,
            ``nose``.
        mean: training mean image [3, H, W]; cfg: input scale and crop.
        layers: the layers compared (paper: 5 and 7; ours ``conv5`` after its ReLU, before
            pooling, and ``fc7``).
        draws: random placements of every part-sized box, independent per image and aligned
            (one centre for all images), each.
        seed: seed of the random placements.
        chunk: masked sets (of N images each) per forward pass, with the clean images.

    Returns a JSON-ready dict (save it with :func:`zflib.results.save_results`):
    ``rows[row][layer] = {"mean", "std"}`` (and ``draw_std`` for ``random``), the paper's
    values under ``paper``, ``decomposition[row][layer] = {"changed", "disagree"}``
    (:func:`decompose`, averaged over the masked sets) for the parts, ``random`` and
    ``random_aligned``; for each part also ``score_rank``, the share of the ``draws`` random
    regions of its size whose sign change is as low or lower (an empirical one-sided p-value),
    and ``random_disagree_rank`` and ``random_aligned_disagree_rank``, the same for the
    disagreement against random and aligned random regions, with those regions' values
    (``random_disagree``, ``random_aligned_disagree``); and what was measured.

    Paper: Sec. 5, Table 1.
    Note: the grey mask is the mean pixel, as in Fig. 7; random regions have the sizes of the
    three parts in turn and are placed anywhere in the centre crop, independently in each
    image (the paper's control, Table 1's ``random`` row); aligned random regions
    (:func:`aligned_boxes`) share one centre in all images, the control for where a part sits.
    """
    layers = tuple(layer_list(layers))
    if not layers:
        raise ValueError("layers is empty; give at least one, e.g. ('conv5', 'fc7')")
    if draws < 1:
        raise ValueError(f"draws {draws} out of range 1..")
    if chunk < 1:
        raise ValueError(f"chunk {chunk} out of range 1..")
    if len(images) < 2:
        raise ValueError(f"need at least 2 images, got {len(images)}")
    boxes = dict(boxes)  # each part as a tensor (lists too)
    for part in PARTS:
        if part not in boxes or len(boxes[part]) != len(images):
            raise ValueError(f"boxes must give {part!r} for each of the {len(images)} images")
        b = torch.as_tensor(boxes[part])
        if b.shape != (len(images), 4):
            raise ValueError(f"boxes[{part!r}] of shape {tuple(b.shape)}; want "
                             f"[{len(images)}, 4] (x0, y0, x1, y1)")
        empty = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])  # masks nothing: a perfect score
        if empty.any():
            raise ValueError(f"{part} box {b[empty][0].tolist()} is empty: want (x0, y0, x1, "
                             "y1) with x0 < x1, y0 < y1 (end-exclusive)")
        boxes[part] = b
    # One memory layout for clean and masked inputs: oneDNN picks its algorithm by layout, and
    # a different one would add rounding noise (~1e-6) to features the mask cannot reach,
    # whose change must be exactly 0 (sign 0), not a random sign.
    x = to_input(images, mean, cfg).contiguous()
    fill = grey_baseline(mean, cfg)
    offset = (images.shape[1] - cfg.crop_size) // 2
    g = torch.Generator().manual_seed(seed)
    lo, hi = offset, offset + cfg.crop_size
    sets = [boxes[p] for p in PARTS]
    sets += [random_boxes(boxes[p], lo=lo, hi=hi, generator=g) for _ in range(draws)
             for p in PARTS]
    sets += [aligned_boxes(boxes[p], lo=lo, hi=hi, generator=g) for _ in range(draws)
             for p in PARTS]
    scores: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    parts_of: dict[str, list[dict[str, float]]] = {k: [] for k in layers}
    n = len(images)
    for start in range(0, len(sets), chunk):
        # the clean images ride in every batch, so that clean and masked features come from
        # the same computation (an unreachable feature then changes by exactly 0)
        part = sets[start:start + chunk]
        batch = torch.cat([x] + [mask_inputs(x, box, fill, offset=offset) for box in part])
        feats = _features(model, batch, layers)
        for k in layers:
            f = feats[k].reshape(len(part) + 1, n, -1)
            scores[k] += [sign_change(f[0] - f[j]) for j in range(1, len(part) + 1)]
            parts_of[k] += [decompose(f[0] - f[j]) for j in range(1, len(part) + 1)]
    rows, decomposition = _summarise(scores, parts_of, draws)
    return {
        "rows": rows,
        "decomposition": decomposition,
        "paper": {row: {name: {"mean": m, "std": s} for name, (m, s) in v.items()}
                  for row, v in PAPER_TABLE1.items()},
        "paper_layers": {"layer5": layers[0], "layer7": layers[-1]},
        "layers": list(layers),
        "images": len(images),
        "pairs": len(images) * (len(images) - 1) // 2,
        "draws": draws,
        "seed": seed,
        "normalisation": "mean over unordered image pairs of Hamming(sign eps_i, sign eps_j) "
                         "/ feature dimension; std over pairs (and draws for random)",
    }


def models_table(models: Mapping[str, Any], images: torch.Tensor,
                 boxes: dict[str, torch.Tensor], *, layers: tuple[str, ...] = ("conv5",),
                 draws: int = 100, seed: int = 0) -> dict[str, dict]:
    """:func:`correspondence_table` for several models on the same dogs and random draws.

    Args:
        models: name -> a trained model with ``model``, ``mean`` and ``cfg``
            (:class:`zflib.training.artifacts.Trained`); each is fed the inputs it was trained on
            (its own ``cfg.input_scale`` and crop), which need not be the profile's.
        images, boxes, layers, draws, seed: as :func:`correspondence_table`.

    Returns name -> :func:`correspondence_table`'s dict.

    Paper: Sec. 5, Table 1 (beyond the paper: one model could mislead, so each is scored).
    """
    return {name: correspondence_table(t.model, images, boxes, t.mean, t.cfg, layers=layers,
                                       draws=draws, seed=seed)
            for name, t in models.items()}


def _share_at_most(random: list[float], part: float) -> float:
    """The share of ``random`` values <= ``part``: an empirical one-sided p-value of the part
    being more consistent (lower) than random regions of its size; nan for a nan ``part``."""
    if part != part:
        return float("nan")
    return sum(r <= part for r in random) / len(random)


def _nanmean(values: list[float]) -> float:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.nanmean())


def _stats(values: torch.Tensor) -> dict[str, float]:
    """[draws, pairs] -> mean and std over all; ``draw_std`` over draws when several."""
    out = {"mean": float(values.mean()),
           "std": float(values.flatten().std()) if values.numel() > 1 else 0.0}
    if len(values) > 1:
        out["draw_std"] = float(values.mean(dim=1).std())
    return out


def example_random_boxes(parts: DogParts, cfg: Config, *, image_size: int, n: int = 2,
                         seed: int = 0) -> list[torch.Tensor]:
    """``n`` sets of random boxes [N, 4] like those of the table's random row (the sizes of
    the right eye, left eye, nose in turn), for showing in Fig. 8."""
    g = torch.Generator().manual_seed(seed)
    lo = (image_size - cfg.crop_size) // 2
    return [random_boxes(parts.boxes[PARTS[i % len(PARTS)]], lo=lo, hi=lo + cfg.crop_size,
                         generator=g) for i in range(n)]
