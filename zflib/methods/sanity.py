"""Sanity checks of the projections: how much of a projection is the network?

Adebayo et al., *Sanity Checks for Saliency Maps* (NeurIPS 2018): re-initialise a network's
weights layer by layer from the top (*cascading* randomisation) or one layer at a time
(*independent*), and compare each projection with the trained network's. A projection that
barely changes shows the image more than the model. Nie et al. (ICML 2018): the deconvnet and
guided backprop largely reconstruct the image whatever the class (*class sensitivity*: the
top class's projection against a random class's).

- :func:`randomise`: a copy of the model with some layers re-initialised (the original is
  never modified; no hook or state is left on either).
- :func:`randomisation_test`: for each rule (``deconvnet``, ``guided``, ``gradient``), each
  step of the cascade (or each layer alone), each seed and each image, the similarity of the
  randomised projection to the original by Adebayo's measures (:data:`MEASURES`).
- :func:`class_sensitivity`: the top class's projection against a random other class's.
- :func:`similarity` and the measures alone: :func:`spearman`, :func:`ssim`, :func:`hog_similarity`.

What is projected (``target``): ``"logit"`` (default, as Adebayo et al.): each image's class
logit (by default the trained model's top class, the same class at every step) back to the
pixels by the rule, starting from 1 (:func:`zflib.methods.deconv.project_logit`: the fast path
for ZFNet and AlexNet, plain autograd with the rule at every ReLU call for any other model);
or a layer (``"conv5"``) with ``maps``: the strongest activation of each map in each image, in
the network being explained, projected as the explorer does
(:func:`zflib.methods.deconv.project_strongest`). A projection that is all zeros (a unit
the randomisation killed) has no defined similarity: NaN, left out of the means, counted.

The randomisation rule: a layer's modules that hold weights (its Conv2d or Linear, and a
BatchNorm2d folded into it) are re-initialised by their own ``reset_parameters()`` (PyTorch's
default initialisation: Kaiming-uniform weights with ``a = sqrt(5)``, biases uniform in
``+-1/sqrt(fan_in)``; batch norm's identity and running statistics), each right after
``torch.manual_seed(seed)``, in a fork of the random state (the caller's is left as it was).
Layers are named as the projections name them (``conv1``..``conv5``, ``fc6``..``fc8`` of a
:class:`zflib.training.models.ConvNet`; module names of any model, whose every submodule
with ``reset_parameters`` is re-initialised). By default the conv layers are randomised, top
first (``conv5`` .. ``conv1``), the classifier kept; ``layers=`` names others (with the
classifier: :func:`randomisable_layers`).

The measures (Adebayo et al., Sec. 4): ``spearman_abs`` and ``spearman``: Spearman's rank
correlation of the two projections' values (all channels, flattened; absolute values or
signed; ties take their average rank, as ``scipy.stats.spearmanr``); ``ssim``: the structural
similarity of the two grey maps (each projection's absolute values summed over channels,
divided by their 99th percentile and clipped to 0..1, Adebayo et al.'s normalisation), with
scikit-image's defaults (7x7 uniform window, sample covariance, K1 0.01, K2 0.03, data range
1, the mean over the window centres at least 3 pixels from the border), computed here in torch
(tests: equal to ``skimage.metrics.structural_similarity``); ``hog``: the Pearson correlation
of the grey maps' HOG features (``skimage.feature.hog``, its defaults: 9 orientations, 8x8-pixel
cells, 3x3-cell blocks, L2-Hys), as Adebayo et al.

Quantus (0.6.0, ``quantus.MPRT``) as a reference: its model-parameter randomisation re-
initialises every module that has ``reset_parameters``, top first, each after
``torch.manual_seed(seed + 1)``, and compares by Spearman's rank correlation of the absolute,
max-normalised explanations. With the same layers (:func:`randomisable_layers`: ZFNet's fc8,
fc7, fc6, conv5..conv1, Quantus's order), its seed one less than ours and zflib's projection as
its ``explain_func``, it gives :func:`randomisation_test`'s ``spearman_abs`` to 1e-6
(``tests/methods/test_sanity.py``). Versions: Quantus 0.6.0 (a test-only dependency),
scikit-image 0.26.0 (SSIM's reference, HOG), scipy's ``spearmanr`` (the rank correlation's
reference).

Paper: Sec. 2.1 (the deconvnet whose projections are checked). Not in the paper: Adebayo et
al. 2018, Nie et al. 2018.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zflib.methods import deconv
from zflib.methods.deconv_steps import RULES, check_rule

MEASURES = ("spearman_abs", "spearman", "ssim", "hog")  # Adebayo et al.'s, Sec. 4
ORDERS = ("cascading", "independent")


# ----------------------------------------------------------------------------- measures


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..D of each row of ``v`` [N, D], ties sharing their average rank (float64)."""
    s, order = v.sort(dim=1)
    n, d = v.shape
    out = torch.empty(n, d, dtype=torch.float64, device=v.device)
    for i in range(n):  # the runs of equal values take their mean position
        _, inverse, counts = torch.unique_consecutive(s[i], return_inverse=True,
                                                      return_counts=True)
        ends = counts.cumsum(0).double()
        mean = ends - (counts.double() - 1) / 2
        out[i, order[i]] = mean[inverse]
    return out


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row pair of ``a``, ``b`` [N, D] (float64; NaN where a row
    is constant)."""
    a = a.double() - a.double().mean(1, keepdim=True)
    b = b.double() - b.double().mean(1, keepdim=True)
    den = (a.norm(dim=1) * b.norm(dim=1))
    return torch.where(den > 0, (a * b).sum(1) / den.clamp(min=1e-300),
                       torch.full_like(den, math.nan))


def spearman(a: torch.Tensor, b: torch.Tensor, *, absolute: bool = False) -> torch.Tensor:
    """Spearman's rank correlation of each pair ``a[n]``, ``b[n]`` (any shape [N, ...],
    flattened), of their absolute values if ``absolute``: [N] float64 (NaN for a constant
    one). Equal to ``scipy.stats.spearmanr`` (ties: average ranks)."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if absolute:
        a, b = a.abs(), b.abs()
    return _pearson(_ranks(a), _ranks(b))


def grey(p: torch.Tensor) -> torch.Tensor:
    """Projections [N, C, H, W] as Adebayo et al.'s grey maps [N, H, W] in 0..1: absolute
    values summed over channels, divided by their 99th percentile, clipped."""
    g = p.abs().sum(1).double()
    q = torch.quantile(g.reshape(len(g), -1), 0.99, dim=1).view(-1, 1, 1)
    return (g / q.clamp(min=1e-300)).clamp(0, 1)


def ssim(a: torch.Tensor, b: torch.Tensor, *, win: int = 7, data_range: float = 1.0
         ) -> torch.Tensor:
    """Structural similarity of grey maps ``a``, ``b`` [N, H, W], scikit-image's definition
    and defaults (uniform ``win`` x ``win`` window, sample covariance, K1 0.01, K2 0.03, the
    mean over windows wholly inside the image): [N] float64."""
    a, b = a.double()[:, None], b.double()[:, None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    np_ = win * win
    cov = np_ / (np_ - 1)

    def mean(t):
        return F.avg_pool2d(t, win, 1)

    ua, ub = mean(a), mean(b)
    vaa = cov * (mean(a * a) - ua * ua)
    vbb = cov * (mean(b * b) - ub * ub)
    vab = cov * (mean(a * b) - ua * ub)
    s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua ** 2 + ub ** 2 + c1) * (vaa + vbb + c2))
    return s.flatten(1).mean(1)


def hog_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the HOG features (``skimage.feature.hog``, its defaults) of grey
    maps ``a``, ``b`` [N, H, W]: [N] float64 (NaN where one has no gradient)."""
    from skimage.feature import hog

    fa = torch.stack([torch.from_numpy(hog(g.cpu().numpy())) for g in a])
    fb = torch.stack([torch.from_numpy(hog(g.cpu().numpy())) for g in b])
    return _pearson(fa, fb)


def check_measures(measures: Sequence[str]) -> tuple[str, ...]:
    """``measures`` as a tuple; ``ValueError`` naming the first unknown and the valid ones."""
    measures = (measures,) if isinstance(measures, str) else tuple(measures)
    for m in measures:
        if m not in MEASURES:
            raise ValueError(f"measure {m!r}; valid: {', '.join(MEASURES)}")
    return measures


def similarity(a: torch.Tensor, b: torch.Tensor, measures: Sequence[str] = MEASURES
               ) -> dict[str, torch.Tensor]:
    """Each measure of :data:`MEASURES` between projections ``a`` and ``b`` [N, C, H, W]:
    ``{measure: [N] float64}``; NaN where either projection is all zeros.

    Paper: not in the paper (Adebayo et al. 2018, Sec. 4).
    """
    measures = check_measures(measures)
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"projections of shapes {tuple(a.shape)} and {tuple(b.shape)}; want "
                         "two [N, C, H, W] of one shape")
    a, b = a.detach().cpu(), b.detach().cpu()
    dead = (a.flatten(1).abs().amax(1) == 0) | (b.flatten(1).abs().amax(1) == 0)
    out: dict[str, torch.Tensor] = {}
    ga = gb = None
    for m in measures:
        if m in ("ssim", "hog") and ga is None:
            ga, gb = grey(a), grey(b)
        if m == "spearman_abs":
            v = spearman(a, b, absolute=True)
        elif m == "spearman":
            v = spearman(a, b)
        elif m == "ssim":
            v = ssim(ga, gb)
        else:
            v = hog_similarity(ga, gb)
        out[m] = v.masked_fill(dead, math.nan)
    return out


# ----------------------------------------------------------------------------- randomisation


def randomisable_layers(model: nn.Module, *, classifier: bool = True) -> list[str]:
    """The layers :func:`randomise` takes, top first: a ConvNet's ``fc8``, ``fc7``, ``fc6``
    (with ``classifier``) then ``conv5``..``conv1``; another model's numbered layers
    (:func:`zflib.methods.deconv.layer_names`), last first."""
    convs = list(reversed(deconv.layer_names(model)))
    fcs = list(reversed(getattr(model, "classifier_names", {}) or {}))
    return (fcs if classifier else []) + convs


def layer_modules(model: nn.Module, layer: str) -> list[str]:
    """The module names of ``model`` whose weights make ``layer``: a chain's ``conv{i}``
    (or a ConvNet's ``fc{i}``) is its Conv2d (Linear) and a BatchNorm2d right after it; any
    other name is that module and every submodule with ``reset_parameters``. ``ValueError``
    naming the valid layers."""
    where = {id(m): n for n, m in model.named_modules()}
    for attr, names in (("classifier", getattr(model, "classifier_names", None)),
                        ("features", None)):
        try:
            seq = getattr(model, attr) if names is not None else deconv.features_of(model)
            idx = names if names is not None else deconv.layer_indices(model)
        except (ValueError, AttributeError):
            continue
        if isinstance(idx, dict) and layer in idx and isinstance(seq, nn.Sequential):
            kind = nn.Linear if attr == "classifier" else nn.Conv2d
            j = max(i for i in range(idx[layer] + 1) if isinstance(seq[i], kind))
            mods = [seq[j]] + [m for m in list(seq)[j + 1:idx[layer] + 1]
                               if isinstance(m, nn.BatchNorm2d)]
            return [where[id(m)] for m in mods]
    valid = randomisable_layers(model)
    mods = dict(model.named_modules())
    if layer not in mods or not layer:
        raise ValueError(f"layer {layer!r} not in {type(model).__name__}; valid: "
                         + ", ".join(valid) + " or a module name")
    names = [f"{layer}.{n}" if n else layer for n, m in mods[layer].named_modules()
             if hasattr(m, "reset_parameters")]
    if not names:
        raise ValueError(f"layer {layer!r} holds no weights to randomise; valid: "
                         + ", ".join(valid))
    return names


def randomise(model: nn.Module, layers: str | Sequence[str], *, seed: int = 0,
              inplace: bool = False) -> nn.Module:
    """A copy of ``model`` (``inplace``: ``model`` itself, for a copy the caller made) with
    ``layers`` re-initialised in the order given: each module of each layer
    (:func:`layer_modules`) by its own ``reset_parameters()`` right after
    ``torch.manual_seed(seed)``, in a fork of the random state.

    Paper: not in the paper (Adebayo et al. 2018, Sec. 3: cascading and independent
    randomisation).
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    names = [layer_modules(model, la) for la in layers]  # every layer checked before work
    out = model if inplace else copy.deepcopy(model)
    mods = dict(out.named_modules())
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for group in names:
            for n in group:
                torch.manual_seed(seed)
                mods[n].reset_parameters()
    return out


# ----------------------------------------------------------------------------- projections


def explain(model: nn.Module, x: torch.Tensor, *, rule: str = "deconvnet",
            target: str = "logit", targets: torch.Tensor | None = None,
            maps: Sequence[int] | None = None, lrn: str | None = None) -> torch.Tensor:
    """What :func:`randomisation_test` compares: [N, C, S, S] for ``target="logit"`` (the
    logits ``targets`` [N], default the model's top classes, projected from 1), or [N * M, C,
    S, S] for a layer ``target`` with ``maps`` [M] (image-major: the strongest activation of
    each map in each image, projected).

    Paper: Sec. 2.1.
    """
    if target == "logit":
        if targets is None:
            with torch.no_grad():
                targets = model(deconv.network_input(x, model)).argmax(1)
        return deconv.project_logit(model, x, targets, rule=rule, lrn=lrn)
    if maps is None:
        raise ValueError(f"target {target!r} (a layer) wants maps; or target='logit'")
    tr = deconv.forward_trace(model, x, target)
    out = []
    for i in range(len(x)):
        pos, _ = tr.strongest(target, image=i)
        m = torch.as_tensor(list(maps))
        out.append(tr.project(target, m, pos[m], [i] * len(m), rule=rule, lrn=lrn))
    return torch.cat(out)


def _check(model: nn.Module, rules, order: str, layers, target: str
           ) -> tuple[tuple[str, ...], list[str]]:
    """(rules, layers) checked: a one-line ``ValueError`` naming the valid choices for an
    unknown rule, order, target layer or randomised layer, before any work."""
    rules = (rules,) if isinstance(rules, str) else tuple(rules)
    for r in rules:
        check_rule(r, None)
    if order not in ORDERS:
        raise ValueError(f"order {order!r}; valid: {', '.join(ORDERS)}")
    if target != "logit":
        deconv.resolve_layer(model, target)
    layers = list(randomisable_layers(model, classifier=False) if layers is None else
                  ([layers] if isinstance(layers, str) else layers))
    if not layers:
        raise ValueError("layers is empty; valid: " + ", ".join(randomisable_layers(model)))
    for la in layers:
        layer_modules(model, la)
    return rules, layers


@dataclass
class SanityCurve:
    """A randomisation test's similarities and the pictures of its first image.

    ``values[rule][measure]`` is [steps, seeds, images] (float64; NaN: a projection of zeros);
    ``steps[i]`` says what step ``i`` randomised (cascading: ``conv5``, ``conv5-conv4``, ...;
    independent: that layer); ``original[rule]`` [C, S, S] and ``examples[rule]`` [steps, C,
    S, S] are the first image's projections (seed ``seeds[0]``, first map)."""

    order: str
    target: str
    rules: tuple[str, ...]
    measures: tuple[str, ...]
    layers: list[str]
    steps: list[str]
    seeds: tuple[int, ...]
    images: int
    values: dict[str, dict[str, torch.Tensor]]
    original: dict[str, torch.Tensor] = field(default_factory=dict)
    examples: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict:
        """``{rule: {measure: {step: {"mean", "std", "n"}}}}`` over seeds and images (NaN
        left out; ``n`` the values counted): what a notebook saves."""
        out: dict = {}
        for r in self.rules:
            out[r] = {}
            for m in self.measures:
                out[r][m] = {}
                for i, s in enumerate(self.steps):
                    v = self.values[r][m][i].flatten()
                    v = v[~v.isnan()]
                    out[r][m][s] = {"mean": float(v.mean()) if len(v) else math.nan,
                                    "std": float(v.std(unbiased=False)) if len(v) else math.nan,
                                    "n": len(v)}
        return out


def randomisation_test(model: nn.Module, x: torch.Tensor, *,
                       rules: str | Sequence[str] = RULES, order: str = "cascading",
                       layers: Sequence[str] | None = None, target: str = "logit",
                       targets: torch.Tensor | None = None, maps: Sequence[int] | None = None,
                       measures: Sequence[str] = MEASURES, seeds: Sequence[int] = (0,),
                       lrn: str | None = None) -> SanityCurve:
    """Adebayo et al.'s model-parameter randomisation test of each rule's projections.

    Args:
        model: in eval mode; never modified (each step works on a copy).
        x: [N, 3, S, S] network inputs.
        rules: of :data:`zflib.methods.deconv_steps.RULES`.
        order: ``"cascading"`` (top layer first, each step adding the next layer down) or
            ``"independent"`` (one layer at a time, the others trained).
        layers: the layers randomised, top first (default: ``conv5``..``conv1``, the
            classifier kept; :func:`randomisable_layers`).
        target: ``"logit"`` or a layer (with ``maps``): see the module docstring.
        targets: [N] the classes of ``target="logit"`` (default: the trained model's top
            class of each image, kept at every step).
        measures: of :data:`MEASURES`.
        seeds: one randomisation per seed (:func:`randomise`).
        lrn: as :func:`zflib.methods.deconv.project` (None: each rule's own).

    Returns:
        :class:`SanityCurve`.

    Paper: not in the paper (Adebayo et al. 2018, Sec. 3, Fig. 2 and 4).
    """
    t0 = time.perf_counter()
    measures = check_measures(measures)
    rules, layers = _check(model, rules, order, layers, target)
    if target == "logit" and targets is None:
        with torch.no_grad():
            targets = model(deconv.network_input(x, model)).argmax(1)
    kw = dict(target=target, targets=targets, maps=maps, lrn=lrn)
    original = {r: explain(model, x, rule=r, **kw) for r in rules}
    steps = list(layers) if order == "independent" else \
        [layers[0] if i == 0 else f"{layers[0]}-{la}" for i, la in enumerate(layers)]
    values = {r: {m: torch.empty(len(layers), len(seeds), len(original[r]),
                                 dtype=torch.float64) for m in measures} for r in rules}
    examples = {r: torch.empty(len(layers), *original[r].shape[1:]) for r in rules}
    for si, seed in enumerate(seeds):
        work = copy.deepcopy(model) if order == "cascading" else None
        for li, la in enumerate(layers):
            rnd = randomise(work, la, seed=seed, inplace=True) if work is not None else \
                randomise(model, la, seed=seed)
            for r in rules:
                p = explain(rnd, x, rule=r, **kw)
                for m, v in similarity(original[r], p, measures).items():
                    values[r][m][li, si] = v
                if si == 0:
                    examples[r][li] = p[0].float().cpu()
    return SanityCurve(order, target, rules, measures, layers, steps, tuple(seeds),
                       len(original[rules[0]]), values,
                       {r: original[r][0].float().cpu() for r in rules}, examples,
                       time.perf_counter() - t0)


def class_sensitivity(model: nn.Module, x: torch.Tensor, *,
                      rules: str | Sequence[str] = RULES,
                      measures: Sequence[str] = MEASURES, seed: int = 0,
                      lrn: str | None = None) -> dict:
    """Nie et al.'s class sensitivity: for each image, the similarity between the projection
    of the top class's logit and of a random other class's (drawn by a generator seeded with
    ``seed``); a rule whose projection reconstructs the image whatever the class scores near 1.

    Returns:
        ``{rule: {measure: {"mean", "std", "n"}}}`` over the images, and ``"classes"``: the
        top and random classes [N, 2].

    Paper: not in the paper (Nie et al. 2018, Sec. 5).
    """
    measures = check_measures(measures)
    rules = (rules,) if isinstance(rules, str) else tuple(rules)
    for r in rules:
        check_rule(r, lrn)
    with torch.no_grad():
        logits = model(deconv.network_input(x, model))
    top = logits.argmax(1).cpu()
    g = torch.Generator().manual_seed(seed)
    other = torch.randint(logits.shape[1] - 1, (len(x),), generator=g)
    other = other + (other >= top).long()  # any class but the top one
    out: dict = {"classes": torch.stack([top, other], 1).tolist()}
    for r in rules:
        a = deconv.project_logit(model, x, top, rule=r, lrn=lrn)
        b = deconv.project_logit(model, x, other, rule=r, lrn=lrn)
        out[r] = {}
        for m, v in similarity(a, b, measures).items():
            v = v[~v.isnan()]
            out[r][m] = {"mean": float(v.mean()) if len(v) else math.nan,
                         "std": float(v.std(unbiased=False)) if len(v) else math.nan,
                         "n": len(v)}
    return out


def as_numpy_explainer(*, rule: str = "deconvnet", lrn: str | None = None):
    """``explain_func(model, inputs, targets, **kw) -> np.ndarray`` of the class logit's
    projection, for toolkits that take one (Quantus)."""

    def explain_func(model, inputs, targets, **kwargs):
        x = torch.as_tensor(np.asarray(inputs)).float()
        t = torch.as_tensor(np.asarray(targets)).long()
        return deconv.project_logit(model, x, t, rule=rule, lrn=lrn).numpy()

    return explain_func


__all__ = ["MEASURES", "ORDERS", "SanityCurve", "as_numpy_explainer", "check_measures",
           "class_sensitivity", "explain", "grey", "hog_similarity", "layer_modules",
           "randomisable_layers", "randomisation_test", "randomise", "similarity", "spearman",
           "ssim"]
