"""Feature invariance: how far features move when the image is translated, scaled or rotated.

For each image and each amount of a transformation, :func:`invariance_curves` measures the
Euclidean distance between the feature vectors of the original and of the transformed image at
layer 1 and layer 7, and the probability of the true class: the four columns of Fig. 5.

The paper's ranges at 224 pixels are vertical translation -60..60 px, scale 1..1.8 and
rotation 0..350 degrees; :func:`paper_values` scales the translation to the network's input
(+-15 px at 56). Transformations act on the stored image (64 px for Tiny ImageNet) about its
centre, before the centre crop the network sees; pixels that come from outside the image are
the mean pixel.

Paper: Sec. 4.4, Fig. 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from zflib.config import Config
from zflib.data import from_input, to_input
from zflib.methods.activations import extract, layer_list
from zflib.methods.deconv import check_indices
from zflib.methods.occlusion import most_confident
from zflib.training.models import ConvNet

KINDS: tuple[str, ...] = ("translation", "scale", "rotation")

# Paper's Fig. 5 examples: lawn mower, Shih-Tzu, African crocodile, African grey,
# entertainment center. Their nearest Tiny ImageNet classes (only the lawn mower is shared).
PAPER_ANALOGUES: tuple[str, ...] = (
    "n03649909",  # lawn mower
    "n02094433",  # Yorkshire terrier (for Shih-Tzu: a small long-haired toy dog)
    "n01698640",  # American alligator (for African crocodile)
    "n01855672",  # goose (for African grey: a bird)
    "n04070727",  # refrigerator (for entertainment center: a large household object)
)


@dataclass
class InvarianceCurves:
    """One row of Fig. 5 for ``N`` images and ``V`` amounts of one transformation.

    Attributes:
        kind: ``translation`` (pixels, positive = down), ``scale`` (factor) or ``rotation``
            (degrees, clockwise).
        values: [V] the amounts.
        distance: layer name -> [N, V] Euclidean distance between the feature vectors of the
            original and the transformed image.
        prob: [N, V] probability of the true class of the transformed image.
        labels: [N] the true classes.
        examples: uint8 [V, H, W, 3] the first image under every amount (for column 1), as
            the network sees it (centre crop).
    """

    kind: str
    values: torch.Tensor
    distance: dict[str, torch.Tensor]
    prob: torch.Tensor
    labels: torch.Tensor
    examples: torch.Tensor

    @property
    def identity_index(self) -> int:
        """Index of the amount that leaves the image unchanged (0 px, scale 1, 0 degrees);
        -1 if ``values`` has none."""
        same = 1.0 if self.kind == "scale" else 0.0
        hits = (self.values == same).nonzero()
        return int(hits[0]) if len(hits) else -1


def paper_values(kind: str, cfg: Config, *, steps: int | None = None) -> torch.Tensor:
    """The paper's range of ``kind`` for the network input of ``cfg``.

    ``translation``: -60..60 px at 224, i.e. ``+-round(60 * crop / 224)`` px in integer steps
    (or ``steps`` values); ``scale``: 1..1.8 (``steps`` values, default 9); ``rotation``:
    0..350 degrees every 10 (or ``steps`` values).

    Paper: Sec. 4.4, Fig. 5.
    """
    if steps is not None and steps < 2:
        raise ValueError(f"steps {steps} out of range 2..")
    if kind == "translation":
        reach = round(60 * cfg.crop_size / 224)
        if steps is None:
            return torch.arange(-reach, reach + 1, dtype=torch.float32)
        return torch.linspace(-reach, reach, steps).round()
    if kind == "scale":
        return torch.linspace(1.0, 1.8, steps or 9)
    if kind == "rotation":
        return torch.linspace(0.0, 350.0, steps or 36)
    raise ValueError(f"unknown transformation {kind!r}; valid: {', '.join(KINDS)}")


def transform_images(images: torch.Tensor, kind: str, value: float, *,
                     fill: tuple[int, int, int] = (0, 0, 0)) -> torch.Tensor:
    """Apply one transformation to uint8 images [N, H, W, 3] about their centre.

    Args:
        images: uint8 [N, H, W, 3].
        kind: ``translation`` (``value`` pixels down; negative is up), ``scale`` (zoom by
            ``value`` > 0) or ``rotation`` (``value`` degrees clockwise).
        fill: RGB of pixels that come from outside the image (the mean pixel in Fig. 5).

    Returns uint8 [N, H, W, 3]; bilinear interpolation; amount 0 (or scale 1) is the identity.

    Paper: Sec. 4.4, Fig. 5 (column 1).
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} "
                         f"{tuple(images.shape)}")
    angle, shift, zoom = 0.0, 0.0, 1.0
    if kind == "translation":
        shift = float(value)
    elif kind == "scale":
        if value <= 0:
            raise ValueError(f"scale {value} out of range (0, inf)")
        zoom = float(value)
    elif kind == "rotation":
        angle = float(value)
    else:
        raise ValueError(f"unknown transformation {kind!r}; valid: {', '.join(KINDS)}")
    x = images.permute(0, 3, 1, 2)
    out = TF.affine(x, angle=angle, translate=[0.0, shift], scale=zoom, shear=[0.0, 0.0],
                    interpolation=TF.InterpolationMode.BILINEAR, fill=[int(f) for f in fill])
    return out.permute(0, 2, 3, 1).contiguous()


def mean_pixel(mean: torch.Tensor) -> tuple[int, int, int]:
    """The mean image's per-channel mean, rounded: the grey used to fill (0..255 RGB)."""
    return tuple(int(round(float(v))) for v in mean.mean(dim=(1, 2)))  # type: ignore[return-value]


@torch.no_grad()
def invariance_curves(model: ConvNet, images: torch.Tensor, labels: torch.Tensor,
                      mean: torch.Tensor, cfg: Config, *, kind: str,
                      values: torch.Tensor | None = None,
                      layers: tuple[str, ...] = ("conv1", "fc7"),
                      batch_size: int = 256) -> InvarianceCurves:
    """Feature distances and true-class probability under one transformation (one Fig. 5 row).

    Args:
        model: the network; run in eval mode by :func:`zflib.methods.activations.extract`, its modes
            restored afterwards.
        images: uint8 [N, H, W, 3] stored images (64 px for Tiny ImageNet).
        labels: [N] their true classes.
        mean: the training mean image [3, H, W] (0..255).
        cfg: the config (input scale and crop).
        kind: ``translation``, ``scale`` or ``rotation``.
        values: [V] amounts; default :func:`paper_values`.
        layers: the layers whose feature vectors are compared (paper: layers 1 and 7).
        batch_size: images per forward pass.

    Returns :class:`InvarianceCurves`. Feature vectors are whole layer outputs (after the
    ReLU), flattened; distances are not normalised, as in the paper.

    Paper: Sec. 4.4, Fig. 5.
    """
    values = paper_values(kind, cfg) if values is None else torch.as_tensor(values).float()
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be [V] amounts, V >= 1, got shape {tuple(values.shape)}")
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be [N] integer classes, got {labels.dtype} of shape "
                         f"{tuple(labels.shape)}")
    labels = labels.long()
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise ValueError("images is empty")
    check_indices(labels, model.num_classes, "label")
    fill = mean_pixel(mean)
    layers = layer_list(layers)
    names = list(dict.fromkeys([*layers, "fc8"]))
    n = len(images)
    # a few amounts at a time (at 224 pixels conv1's output is 4.6 MB an image), each pass
    # with the originals, so that an unchanged image gives exactly the original's features
    per_pass = max(1, (batch_size - n) // n)
    distance: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    probs, examples = [], []
    for start in range(0, len(values), per_pass):
        chunk = values[start:start + per_pass]
        moved = torch.cat([transform_images(images, kind, float(v), fill=fill) for v in chunk])
        x = to_input(torch.cat([images, moved]), mean, cfg)
        acts = extract(model, x, names, batch_size=len(x))
        for name in layers:
            f = acts[name].flatten(1).double()
            new = f[n:].reshape(len(chunk), n, -1)
            distance[name].append((new - f[:n][None]).norm(dim=2).T.float())  # [N, v]
        p = torch.softmax(acts["fc8"][n:].double(), dim=1).reshape(len(chunk), n, -1)
        probs.append(p[:, torch.arange(n), labels].T.float())
        first = x[n:].reshape(len(chunk), n, *x.shape[1:])[:, 0]
        examples.append((from_input(first, mean, cfg) * 255).round().to(torch.uint8))
    return InvarianceCurves(kind=kind, values=values,
                            distance={k: torch.cat(d, dim=1) for k, d in distance.items()},
                            prob=torch.cat(probs, dim=1), labels=labels,
                            examples=torch.cat(examples))


def summarise(rows: list[InvarianceCurves]) -> dict[str, dict[str, float]]:
    """Fig. 5's claims in numbers, per transformation (``rows``: one per kind).

    - ``prob_kept``: the share of (image, amount) pairs whose true-class probability is at
      least half the untransformed image's (invariance of the output);
    - ``prob_mean``: the mean true-class probability over images and amounts;
    - ``jump_<layer>``: the distance at the smallest amount other than the identity over the
      largest distance, averaged over images (near 1: a small change moves the layer about as
      far as any, as layer 1 does; small: the layer moves gradually);
    - ``linear_<layer>``: Pearson's r, over images and amounts, between how far the amount is
      from the identity and the layer's distance (the paper: layer 7 is nearly linear in
      translation and scale).

    Paper: Sec. 4.4, Fig. 5.
    """
    out = {}
    for r in rows:
        i = r.identity_index
        if i < 0:
            raise ValueError(f"{r.kind} values {r.values.tolist()} hold no identity amount")
        clean = r.prob[:, i:i + 1]
        away = (r.values - r.values[i]).abs()
        nearest = int(torch.where(away > 0, away, torch.inf).argmin())
        row = {"prob_kept": float((r.prob >= clean / 2).double().mean()),
               "prob_mean": float(r.prob.double().mean())}
        for name, d in r.distance.items():
            d = d.double()
            row[f"jump_{name}"] = float((d[:, nearest] / d.amax(dim=1)).mean())
            x = away.double().expand_as(d).flatten()
            row[f"linear_{name}"] = float(torch.corrcoef(torch.stack([x, d.flatten()]))[0, 1])
        out[r.kind] = row
    return out


def candidates(labels: torch.Tensor, classes: list[str], *,
               wnids: tuple[str, ...] = PAPER_ANALOGUES) -> torch.Tensor:
    """Indices of the images :func:`choose_images` can pick: those of the classes ``wnids``
    when every one of them is present, else all (a missing class is replaced by the most
    confident image of any other). Classifying these alone picks the same images.

    Args:
        labels: [N] true classes; classes: the class ids (wnids).
    """
    labels = torch.as_tensor(labels)
    present = [classes.index(w) for w in wnids if w in classes]
    wanted = torch.isin(labels, torch.tensor(present, dtype=labels.dtype))
    if len(present) < len(wnids) or any(not bool((labels == c).any()) for c in present):
        return torch.arange(len(labels))
    return wanted.nonzero().flatten()


def choose_images(probs: torch.Tensor, labels: torch.Tensor, classes: list[str], *,
                  wnids: tuple[str, ...] = PAPER_ANALOGUES) -> list[int]:
    """One image per class of ``wnids``: the one with the highest true-class probability
    (correctly classified first). A class absent from ``labels`` is replaced by the most
    confident image of a class not chosen yet.

    Args:
        probs: [N, K] class probabilities; labels: [N]; classes: the K class ids.
    """
    chosen: list[int] = []
    used: set[int] = set()
    for wnid in wnids:
        present = wnid in classes and bool((labels == classes.index(wnid)).any())
        among = labels == classes.index(wnid) if present else torch.tensor(
            [int(y) not in used for y in labels])
        i = most_confident(probs, labels, among=among, exclude=tuple(chosen))
        chosen.append(i)
        used.add(int(labels[i]))
    return chosen
