"""Numbers beside the pictures of Fig. 6: dead first-layer filters and the spread of their
energy over spatial frequencies.

The paper (Sec. 4.1, Fig. 6) says that AlexNet's first layer "is a mix of extremely high and
low frequency information, with little coverage of the mid frequencies" and has "dead"
features, and that ZFNet's smaller stride and filter fix both. These functions measure it.

Definitions (ours; the paper gives none):

- A filter is *dead by activation* when its mean rectified response over a set of images is
  below ``rel`` (1%) of the median over the layer's filters: it hardly ever fires.
- A filter is *dead by weight* when its RMS is below ``rel`` (10%) of the layer's median RMS.
- Under either rule a filter that never fires (mean response 0) or is all zeros is dead
  whatever the median: when half the layer or more is dead the median is 0 itself, and a
  threshold of ``rel * 0`` would call none of them dead.
- *Learned component*: when conv1 starts large (Kaiming-normal, RMS about 0.12), the trained
  filters keep most of their random initial values (cosine similarity 0.97 after 20 epochs
  under Adam), which hides what was learned. The initialisation is seeded, so it is rebuilt
  exactly (:func:`zflib.training.models.initial_model`) and regressed out per filter:
  ``w - a * w0`` with ``a = <w, w0> / <w0, w0>`` (:func:`learned_component`). The committed
  runs start conv1 at N(0, 1e-2) (``Config.first_layer_std``), where it matters less.
- *Dominant* filters (Fig. 6(a): "a few first-layer filters dominate"): RMS above the
  renormalisation radius (0.1, Sec. 3), which renormalisation forbids; and the ratio of the
  largest RMS to the median.
- Frequency bands: each filter (all input channels) is zero-padded to ``n`` x ``n`` (64) and
  Fourier transformed; its power is split by radial frequency ``r`` in cycles per input pixel
  into low (``r < 1/6``), mid (``1/6 <= r < 1/3``) and high (``r >= 1/3``) thirds of the
  Nyquist band [0, 1/2] (the corners above 1/2 count as high). Shares are per filter, then
  averaged over the layer's filters that have any energy (an all-zero filter has no shares, so
  the layer's three still sum to 1); the filter's mean (DC) counts as low.
"""

from __future__ import annotations

import torch
from torch import nn

from zflib.methods.activations import extract

BANDS = ("low", "mid", "high")


def radial_frequency(n: int) -> torch.Tensor:
    """[n, n] radial frequency (cycles per pixel) of an ``n``-point 2-D FFT's bins."""
    f = torch.fft.fftfreq(n)
    return torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def band_energy(weight: torch.Tensor, *, n: int = 64,
                edges: tuple[float, float] = (1 / 6, 1 / 3)) -> torch.Tensor:
    """Share of each filter's power in the low, mid and high bands.

    Args:
        weight: conv filters [F, C, k, k].
    Returns:
        [F, 3] rows summing to 1 (a filter of zeros gives zeros).

    Paper: Sec. 4.1, Fig. 6 (the mid frequencies AlexNet's layer 1 misses).
    """
    if weight.ndim != 4 or weight.shape[-1] > n:
        raise ValueError(f"weight must be [F, C, k, k] with k <= {n}, got {tuple(weight.shape)}")
    if not 0 < edges[0] < edges[1]:  # else the bands overlap and count some power twice
        raise ValueError(f"edges {edges} must increase: 0 < low/mid < mid/high")
    power = torch.fft.fft2(weight.double(), s=(n, n)).abs().pow(2).sum(1)  # [F, n, n]
    r = radial_frequency(n)
    masks = [r < edges[0], (r >= edges[0]) & (r < edges[1]), r >= edges[1]]
    parts = torch.stack([power[:, m].sum(1) for m in masks], 1)
    total = parts.sum(1, keepdim=True)
    return (parts / total.clamp_min(1e-30)).float()


def filter_rms(weight: torch.Tensor) -> torch.Tensor:
    """[F] RMS of each filter of ``weight`` [F, C, k, k] (what renormalisation bounds)."""
    return weight.float().pow(2).mean(dim=(1, 2, 3)).sqrt()


def dead_by_weight(weight: torch.Tensor, *, rel: float = 0.1) -> torch.Tensor:
    """[F] bool: filter RMS below ``rel`` times the layer's median RMS, or 0 (all zeros)."""
    rms = filter_rms(weight)
    return (rms <= 0) | (rms < rel * rms.median())


def mean_activation(model: nn.Module, x: torch.Tensor, layer: str = "conv1", *,
                    batch_size: int = 100) -> torch.Tensor:
    """[F] mean rectified response of each map of ``layer`` over inputs ``x``, ``batch_size``
    inputs at a time (at 224 pixels conv1's maps take 4.6 MB per image)."""
    total = None
    for i in range(0, len(x), batch_size):
        s = extract(model, x[i:i + batch_size], [layer])[layer].double().sum(dim=(0, 2, 3))
        total = s if total is None else total + s
    h, w = extract(model, x[:1], [layer])[layer].shape[-2:]
    return (total / (len(x) * h * w)).float()


def dead_by_activation(mean_act: torch.Tensor, *, rel: float = 0.01) -> torch.Tensor:
    """[F] bool: mean response below ``rel`` times the layer's median mean response, or 0
    (never fires; also when the median is 0 because half the layer or more is dead)."""
    return (mean_act <= 0) | (mean_act < rel * mean_act.median())


def learned_component(weight: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    """``weight`` minus its least-squares projection on ``initial``, per filter [F, ...]."""
    w, w0 = weight.detach().float(), initial.detach().float()
    dims = tuple(range(1, w.ndim))
    a = (w * w0).sum(dims, keepdim=True) / (w0 * w0).sum(dims, keepdim=True).clamp_min(1e-30)
    return w - a * w0


def init_similarity(weight: torch.Tensor, initial: torch.Tensor) -> float:
    """Mean cosine similarity between each trained filter and its initial value."""
    return float(torch.nn.functional.cosine_similarity(
        weight.detach().flatten(1).float(), initial.detach().flatten(1).float(), dim=1).mean())


def _layer_shares(weight: torch.Tensor) -> torch.Tensor:
    """[3] band shares (:func:`band_energy`) averaged over the filters with any energy."""
    shares = band_energy(weight)
    live = shares.sum(1) > 0
    return shares[live].mean(0) if live.any() else shares.mean(0)


def layer1_report(model: nn.Module, x: torch.Tensor, initial: torch.Tensor | None = None,
                  *, radius: float = 0.1) -> dict[str, float]:
    """Fig. 6's numbers for one model's first layer: dead shares and band energies, of the
    filters as trained and (given their ``initial`` values) of their learned component.

    Args:
        model: a ZFNet/AlexNet (``features[0]`` is conv1).
        x: [N, 3, S, S] network inputs (validation images).
        initial: conv1's initial weights [F, 3, k, k], or None.
        radius: the renormalisation radius (``over_radius``: share of filters above it).

    Paper: Sec. 4.1, Fig. 6 (dead filters, frequency coverage).
    """
    w = model.features[0].weight.detach()
    rms = filter_rms(w)
    act = mean_activation(model, x)
    out = {"filters": int(w.shape[0]), "kernel": int(w.shape[-1]),
           "stride": int(model.features[0].stride[0]),
           "dead_by_activation": float(dead_by_activation(act).float().mean()),
           "dead_by_weight": float(dead_by_weight(w).float().mean()),
           "over_radius": float((rms > radius * (1 + 1e-3)).float().mean()),  # fp16 slack
           "rms_max_over_median": float(rms.max() / rms.median()),
           **{f"energy_{b}": float(v) for b, v in zip(BANDS, _layer_shares(w),
                                                      strict=True)}}
    if initial is not None:
        learned = _layer_shares(learned_component(w, initial))
        out["init_similarity"] = init_similarity(w, initial)
        out.update({f"learned_energy_{b}": float(v) for b, v in zip(BANDS, learned,
                                                                    strict=True)})
    return out
