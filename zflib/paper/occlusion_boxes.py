"""Fig. 7's claim measured: does the class probability drop where the object is covered?

The paper shows, on three images, that the probability of the correct class collapses when the
grey square covers the object. Here the claim is measured on many images against the object's
bounding box (Tiny ImageNet gives one per validation image, :func:`zflib.data.tiny.val_boxes`):
for each image, the true-class probability with the square *on* the object (at least half of
the square inside the box) against *off* it (the square entirely outside the box).

Paper: Sec. 4.2, Fig. 7 ("the probability of the correct class drops significantly when the
object is occluded").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from zflib.config import Config
from zflib.data import TINY_SIZE
from zflib.data.install import dataset_root
from zflib.data.tiny import val_boxes
from zflib.methods.occlusion import OcclusionMaps, occlusion_maps, window_starts
from zflib.progress import bar
from zflib.training.models import ConvNet

# A square is on the object when at least this share of its area lies inside the box
ON_SHARE = 0.5


def crop_box(box: Sequence[int], *, source: int, cfg: Config) -> torch.Tensor:
    """A box of a ``source``-pixel image in network-input pixels of ``cfg``.

    Args:
        box: (x0, y0, x1, y1), end-exclusive, in pixels of the ``source``-pixel image (64 for
            Tiny ImageNet's annotations).
        source: the side of the image the box was drawn on.
        cfg: ``image_size`` (the stored image, which ``source`` is resized to) and
            ``crop_size`` (the centre crop the network sees).

    Returns int64 [4]: the box scaled by ``image_size / source``, shifted by the centre crop's
    offset and clipped to ``0..crop_size`` (it may be empty when the object lies outside the
    crop).
    """
    b = torch.as_tensor(box, dtype=torch.float64)
    if b.shape != (4,) or not (b[2] > b[0] and b[3] > b[1]):
        raise ValueError(f"box {list(box)} is not (x0, y0, x1, y1) with x0 < x1, y0 < y1")
    if source < 1 or bool((b < 0).any()) or bool((b > source).any()):
        raise ValueError(f"box {list(box)} not inside the 0..{source} image")
    offset = (cfg.image_size - cfg.crop_size) // 2
    scaled = (b * cfg.image_size / source).round() - offset
    return scaled.clamp(0, cfg.crop_size).long()


def square_overlap(box: torch.Tensor, *, ys: torch.Tensor, xs: torch.Tensor, size: int,
                   extent: int) -> torch.Tensor:
    """[Ny, Nx] share of each square's area inside ``box`` (x0, y0, x1, y1) in input pixels,
    end-exclusive; the squares' top-left corners at rows ``ys`` and columns ``xs``
    (:class:`zflib.methods.occlusion.OcclusionMaps`), ``size`` on a side, clipped at the border of
    the ``extent``-pixel input as :func:`zflib.methods.occlusion.occlusion_maps` clips them."""
    def along(starts: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        ends = (starts + size).clamp(max=extent)
        inside = (ends.clamp(max=hi) - starts.clamp(min=lo)).clamp(min=0)
        return inside.double() / (ends - starts).double()

    x0, y0, x1, y1 = (int(v) for v in box)
    return along(ys, y0, y1)[:, None] * along(xs, x0, x1)[None, :]


def on_off(maps: OcclusionMaps, box: torch.Tensor, *, extent: int,
           on: float = ON_SHARE) -> dict[str, float]:
    """Panel (d) of ``maps`` split by where the square lies: the mean true-class probability
    with the square on the object (``on`` of its area or more inside ``box``, in pixels of the
    ``extent``-pixel input) and off it (no overlap), with the unoccluded probability and the
    number of positions of each; nan where no square is on, or none off.

    Paper: Sec. 4.2, Fig. 7 (d).
    """
    share = square_overlap(box, ys=maps.ys, xs=maps.xs, size=maps.size, extent=extent)
    p = maps.prob.double()
    hit, miss = share >= on, share == 0
    return {"clean": maps.clean_prob,
            "on": float(p[hit].mean()) if hit.any() else math.nan,
            "off": float(p[miss].mean()) if miss.any() else math.nan,
            "positions_on": int(hit.sum()), "positions_off": int(miss.sum())}


def has_on_and_off(box: torch.Tensor, *, size: int, stride: int, extent: int,
                   on: float = ON_SHARE) -> bool:
    """Whether, with squares of ``size`` every ``stride`` pixels, some square lies on the
    object (``on`` of it inside ``box``) and some off it."""
    starts = window_starts(extent, size, stride)
    share = square_overlap(box, ys=starts, xs=starts, size=size, extent=extent)
    return bool((share >= on).any()) and bool((share == 0).any())


def object_boxes(paths: Sequence[str], cfg: Config, *, root: Path | None = None
                 ) -> torch.Tensor:
    """int64 [N, 4]: the object's box of each Tiny ImageNet validation image of ``paths``, in
    network-input pixels of ``cfg`` (:func:`crop_box` of the 64-pixel annotation).

    ``root``: the installed dataset (default: :func:`zflib.data.install.dataset_root`)."""
    root = root if root is not None else dataset_root("tiny-imagenet")
    known = val_boxes(Path(root))
    missing = [p for p in paths if Path(p).name not in known]
    if missing:
        raise ValueError(f"{len(missing)} images without a box in val_annotations.txt, e.g. "
                         f"{missing[0]!r} (validation images only)")
    return torch.stack([crop_box(known[Path(p).name], source=TINY_SIZE, cfg=cfg)
                        for p in paths]) if paths else torch.zeros(0, 4, dtype=torch.long)


def choose_images(probs: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor, *, n: int,
                  size: int, stride: int, extent: int) -> list[int]:
    """The first ``n`` images (in the split's order) that are classified correctly and whose
    box has squares both on and off it (:func:`has_on_and_off`): Fig. 7's claim is about a
    class the network finds, on an object that does not fill the whole input."""
    if n < 1:
        raise ValueError(f"n {n} out of range 1..")
    correct = (probs.argmax(1) == labels).tolist()
    picks = []
    for i, ok in enumerate(correct):
        if ok and has_on_and_off(boxes[i], size=size, stride=stride, extent=extent):
            picks.append(i)
            if len(picks) == n:
                break
    return picks


def measure(model: ConvNet, inputs: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor,
            picks: Sequence[int], *, baseline: torch.Tensor | float, size: int,
            stride: int, progress: bool = True) -> list[dict[str, float]]:
    """:func:`on_off` of each image ``picks[i]`` of ``inputs`` [N, 3, S, S], occluded as in
    Fig. 7 (:func:`zflib.methods.occlusion.occlusion_maps`, incremental), its true class ``labels``
    and its object ``boxes`` [N, 4] in input pixels; ``progress``: a bar over the images.

    Paper: Sec. 4.2, Fig. 7 (d).
    """
    rows = []
    for i in bar(picks, progress=progress, unit="img", desc="occluding on and off the object"):
        maps = occlusion_maps(model, inputs[i], int(labels[i]), size=size, stride=stride,
                              baseline=baseline)
        rows.append({"image": int(i), **on_off(maps, boxes[i], extent=inputs.shape[-1])})
    return rows


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Fig. 7's claim over images: ``rows`` from :func:`on_off`, one per image.

    Returns the number of images, the means over them of the clean, on-object and off-object
    probabilities, the median of on / off, the share of images whose probability is lower on
    the object than off it, and a one-sided sign test's p-value of that share (the chance of
    at least as many images with on < off if either order were equally likely).
    """
    if not rows:
        raise ValueError("no images to summarise")
    on = torch.tensor([r["on"] for r in rows], dtype=torch.float64)
    off = torch.tensor([r["off"] for r in rows], dtype=torch.float64)
    clean = torch.tensor([r["clean"] for r in rows], dtype=torch.float64)
    n = len(rows)
    lower = int((on < off).sum())
    p = sum(math.comb(n, k) for k in range(lower, n + 1)) / 2 ** n
    return {"images": n, "clean": float(clean.mean()), "on": float(on.mean()),
            "off": float(off.mean()), "on_over_off_median": float((on / off).median()),
            "share_on_lower": lower / n, "sign_test_p": p}


__all__ = ["ON_SHARE", "crop_box", "square_overlap", "on_off", "has_on_and_off", "object_boxes",
           "choose_images", "measure", "summarise"]
