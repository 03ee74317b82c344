"""Transfer to other datasets and the per-layer feature analysis (Sec. 5.2, 5.3).

Layers 1-7 of the ImageNet-trained network (here: the Tiny ImageNet ZFNet-64) are kept fixed;
their features are extracted once (:func:`cached_features`) and a new classifier is trained on
top: a softmax on fc7 (Tables 4-6, Fig. 9) or a linear SVM / softmax on any layer (Table 7).
The non-pretrained baseline, the same architecture trained from scratch on the few training
images, is :mod:`zflib.paper.scratch`.

Protocol (Fei-Fei et al. 2006, as the paper follows it): per class, ``n`` random training images
and up to ``test_per_class`` (50) test images; the score is the mean of the per-class accuracies,
averaged over random splits (5), reported as mean and standard deviation.

Choices the paper leaves open, made here:

- Splits are nested: each split shuffles every class once; the training images for ``n`` per
  class are the first ``n`` of that order and the test images come after the first
  ``max(sizes)``, so every training-set size of a split is tested on the same images (Fig. 9
  compares like with like). A Caltech-101 class has at least 31 images, so with 30 for training
  some classes test on as few as one image (as in the standard protocol).
- Conv maps are max-pooled over a ``grid`` x ``grid`` partition of the map (adaptive max-pooling)
  and flattened; for ZFNet-64 ``grid=3`` on conv5 (7x7) gives exactly pool5, the fc6 input.
  fc6 and fc7 are taken after their ReLU; the network sees the centre 56x56 crop of the 64x64
  image, with dropout off.
- Features are standardised per dimension with the training split's mean and standard deviation
  (``scaling="standard"``; ``"l2"`` divides each vector by its length, ``"none"`` leaves them).
- The classifiers' regularisation ``C`` is fixed (:class:`TransferSettings`), in scikit-learn's
  convention: minimise ``C * sum(loss_i) + ||W||^2 / 2``. The softmax is multinomial logistic
  regression, the SVM one-vs-rest linear SVMs with the squared hinge (``LinearSVC``'s
  objective); both have an unpenalised bias and are fitted in torch by full-batch L-BFGS, at
  most ``max_iter`` (50) iterations (:func:`fit_linear`). Tests check both against
  scikit-learn's ``LogisticRegression`` and ``LinearSVC``; on one 3,060 x 4,096 fc7 fit (one
  core) those took 11.9 s and 174 s against 4.9 s and 4.0 s here, for the same accuracy
  (``benchmarks/results/bench_transfer.json``, from ``benchmarks/bench_transfer.py``).
- Standard deviations are over splits with ``ddof=1``.

Paper: Sec. 5.2 (Tables 4, 5, 6; Fig. 9), Sec. 5.3 (Table 7).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zflib.config import TRANSFER_LAYERS as LAYERS
from zflib.config import TRANSFER_PROFILES, Config, TransferSettings, transfer_settings
from zflib.data.common import ImageSet, cache_dir, cache_key, tensor_digest
from zflib.data.transforms import center_crop, normalize
from zflib.methods.activations import extract
from zflib.progress import bar
from zflib.training.models import ConvNet, eval_mode
from zflib.training.train import default_device, machine_name

# Paper numbers, transcribed from the ECCV 2014 / arXiv v3 text (mean per-class accuracy, %;
# None where the paper gives no value or no deviation).
PAPER_TABLE4: dict[str, dict[int, tuple[float | None, float | None]]] = {
    "Bo et al. (2013)": {15: (None, None), 30: (81.4, 0.33)},
    "Jianchao et al. (2009)": {15: (73.2, None), 30: (84.3, None)},
    "Non-pretrained convnet": {15: (22.8, 1.5), 30: (46.5, 1.7)},
    "ImageNet-pretrained convnet": {15: (83.8, 0.5), 30: (86.5, 0.5)},
}
PAPER_TABLE5: dict[str, dict[int, tuple[float | None, float | None]]] = {
    "Sohn et al. (2011)": {15: (35.1, None), 30: (42.1, None), 45: (45.7, None),
                           60: (47.9, None)},
    "Bo et al. (2013)": {15: (40.5, 0.4), 30: (48.0, 0.2), 45: (51.9, 0.2), 60: (55.2, 0.3)},
    "Non-pretrained convnet": {15: (9.0, 1.4), 30: (22.5, 0.7), 45: (31.2, 0.5),
                               60: (38.8, 1.4)},
    "ImageNet-pretrained convnet": {15: (65.7, 0.2), 30: (70.6, 0.2), 45: (72.7, 0.4),
                                    60: (74.2, 0.3)},
}
# Table 7: (classifier, layer) -> Caltech-101 30/class and Caltech-256 60/class, mean and std.
PAPER_TABLE7: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("svm", "conv1"): {"caltech101": (44.8, 0.7), "caltech256": (24.6, 0.4)},
    ("svm", "conv2"): {"caltech101": (66.2, 0.5), "caltech256": (39.6, 0.3)},
    ("svm", "conv3"): {"caltech101": (72.3, 0.4), "caltech256": (46.0, 0.3)},
    ("svm", "conv4"): {"caltech101": (76.6, 0.4), "caltech256": (51.3, 0.1)},
    ("svm", "conv5"): {"caltech101": (86.2, 0.8), "caltech256": (65.6, 0.3)},
    ("svm", "fc7"): {"caltech101": (85.5, 0.4), "caltech256": (71.7, 0.2)},
    ("softmax", "conv5"): {"caltech101": (82.9, 0.4), "caltech256": (65.7, 0.5)},
    ("softmax", "fc7"): {"caltech101": (85.4, 0.4), "caltech256": (72.6, 0.1)},
}
PAPER_TABLES = {"caltech101": PAPER_TABLE4, "caltech256": PAPER_TABLE5}  # by dataset name
PAPER_TABLE6_MEAN_AP = {"Sande et al. (2012) [A]": 74.3, "Yan et al. (2012) [B]": 82.2,
                        "ImageNet-pretrained convnet": 79.0}


# --------------------------------------------------------------------------------------------
# splits and scores


@dataclass(frozen=True)
class Split:
    """One random train/test split.

    Attributes:
        order: per class, the candidate training images in random order (``reserve`` of them);
            the training set for ``n`` per class is the first ``n`` of every class.
        test: indices of the test images (up to ``test_per_class`` per class, none of them in
            ``order``).
    """

    order: tuple[np.ndarray, ...]
    test: np.ndarray

    def train(self, n: int) -> np.ndarray:
        """Indices of the training images for ``n`` per class."""
        reserve = min(len(o) for o in self.order)
        if not 1 <= n <= reserve:
            raise ValueError(f"training images per class {n} out of range 1..{reserve}")
        return np.concatenate([o[:n] for o in self.order])


def make_splits(labels: torch.Tensor | np.ndarray, *, reserve: int, test_per_class: int = 50,
                splits: int = 5, seed: int = 0) -> list[Split]:
    """``splits`` random nested train/test splits of ``labels`` [N].

    Every class is shuffled once per split; its first ``reserve`` images are the training
    candidates and the next ``test_per_class`` (or as many as are left) its test images.
    Raises ``ValueError`` when a class has no image left to test on.

    Paper: Sec. 5.2 ("randomly select 15 or 30 images per class for training and test on up to
    50 images per class ... using 5 train/test folds").
    """
    labels = np.asarray(labels)
    if reserve < 1 or test_per_class < 1 or splits < 1:
        raise ValueError(f"reserve {reserve}, test_per_class {test_per_class} and splits "
                         f"{splits} must each be in range 1..")
    classes = np.unique(labels)
    counts = np.bincount(labels)
    small = [int(c) for c in classes if counts[c] <= reserve]
    if small:
        raise ValueError(f"classes {small[:5]} have {counts[small[0]]} images or fewer; "
                         f"{reserve} per class for training needs at least {reserve + 1}")
    out = []
    for s in range(splits):
        rng = np.random.default_rng([seed, s])
        order, test = [], []
        for c in classes:
            perm = rng.permutation(np.flatnonzero(labels == c))
            order.append(perm[:reserve])
            test.append(perm[reserve:reserve + test_per_class])
        out.append(Split(tuple(order), np.concatenate(test)))
    return out


def mean_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over the classes present in ``y_true`` of the fraction of them predicted right.

    Paper: Sec. 5.2 ("reporting the average of the per-class accuracies").
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or not len(y_true):
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal, "
                         "non-empty 1-d arrays")
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def summarize(runs: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "runs"}`` in percent (std over runs, ``ddof=1``; 0 for one run)."""
    r = [100.0 * float(v) for v in runs]
    return {"mean": float(np.mean(r)), "std": float(np.std(r, ddof=1)) if len(r) > 1 else 0.0,
            "runs": r}


# --------------------------------------------------------------------------------------------
# features


def pool_features(act: torch.Tensor, *, grid: int = 3) -> torch.Tensor:
    """[N, C, H, W] conv maps -> [N, C * grid * grid] (adaptive max-pool, flattened per map);
    [N, D] passes through. Paper: Sec. 5.3 (the paper does not say how maps are vectorised)."""
    if act.ndim == 2:
        return act
    if act.ndim != 4:
        raise ValueError(f"activations of shape {tuple(act.shape)}; expected [N, D] or "
                         "[N, C, H, W]")
    if not 1 <= grid <= min(act.shape[-2:]):
        raise ValueError(f"grid {grid} out of range 1..{min(act.shape[-2:])}")
    return F.adaptive_max_pool2d(act, grid).flatten(1)


@torch.no_grad()
def layer_features(model: ConvNet, images: torch.Tensor, mean: torch.Tensor, cfg: Config, *,
                   layers: Sequence[str] = LAYERS, grid: int = 3,
                   batch_size: int = 256, progress: bool = True) -> dict[str, np.ndarray]:
    """Pooled features of ``layers`` for uint8 ``images`` [N, H, W, 3], float16 [N, D] each.

    Inputs are ``(x - mean) * cfg.input_scale``, centre crop ``cfg.crop_size``; the model runs
    in eval mode (no dropout) on its own device; its mode is restored afterwards.
    ``progress``: a bar over the batches.

    Paper: Sec. 5.2 ("layers 1-7 ... fixed"), Sec. 5.3.
    """
    device = next(model.parameters()).device
    out: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    with eval_mode(model):
        for i in bar(range(0, len(images), batch_size), progress=progress, unit="batch",
                     desc="features"):
            x = normalize(images[i:i + batch_size].to(device), mean.to(device), cfg.input_scale)
            acts = extract(model, center_crop(x, cfg.crop_size), list(layers),
                           batch_size=batch_size)
            for n in layers:
                out[n].append(pool_features(acts[n].float(), grid=grid).half().numpy())
    return {n: np.concatenate(v) for n, v in out.items()}


@dataclass
class FeatureSet:
    """Cached features: ``layers`` maps a layer name to float16 [N, D]; ``seconds`` is the time
    extraction took when it ran (also recorded when loaded from the cache); ``cached`` whether
    this call loaded them."""

    layers: dict[str, np.ndarray]
    seconds: float
    cached: bool


def cached_features(model: ConvNet, images: torch.Tensor, mean: torch.Tensor, cfg: Config, *,
                    layers: Sequence[str] = LAYERS, grid: int = 3,
                    name: str = "features", progress: bool = True) -> FeatureSet:
    """:func:`layer_features`, stored once under ``$ZF_HOME/cache/<name>-<key>/<layer>.npy``.

    The key hashes the weights, the images, the mean, the layers, ``grid`` and the input
    settings, so new weights or data never reuse stale features. ``progress``: a bar over the
    batches, when they are computed.
    """
    key = cache_key(tensor_digest(*model.state_dict().values()), tensor_digest(images, mean),
                    list(layers), grid, cfg.crop_size, cfg.input_scale)
    folder = cache_dir() / f"{name}-{key}"
    if (folder / "meta.json").exists():
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {n: np.load(folder / f"{n}.npy") for n in layers}
        return FeatureSet(arrays, float(meta["seconds"]), True)
    t0 = time.perf_counter()
    arrays = layer_features(model, images, mean, cfg, layers=layers, grid=grid,
                            progress=progress)
    seconds = time.perf_counter() - t0
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for n, a in arrays.items():
        np.save(tmp / f"{n}.npy", a)
    (tmp / "meta.json").write_text(json.dumps({"seconds": seconds, "layers": list(layers),
                                               "images": len(images)}))
    try:
        tmp.rename(folder)
    except OSError:  # another process stored them first
        shutil.rmtree(tmp, ignore_errors=True)
    return FeatureSet(arrays, seconds, False)


def fixed_model(model_name: str, layers: Sequence[str], *,
                device: torch.device | str = "cpu") -> Any:
    """Committed model ``model_name`` (:func:`zflib.training.artifacts.load_trained`) whose
    ``layers`` are kept fixed; refused when they include fc6/fc7 and only its conv layers are stored
    (they would be untrained, and differ per load).

    Paper: Sec. 5.2 (layers 1-7 of the ImageNet model kept fixed).
    """
    from zflib.training.artifacts import load_trained

    trained = load_trained(model_name, device=device)
    fc = [n for n in layers if n.startswith("fc")]
    if fc and not trained.complete:
        raise ValueError(f"artifact {model_name!r} stores its conv layers only, so its {fc} "
                         "would be untrained; use a whole model (zfnet64) or conv layers only")
    return trained


def load_caltech(settings: TransferSettings, size: int) -> ImageSet:
    """The Caltech-101 that ``settings.dataset`` names, stored at ``size`` x ``size``, with
    the settings' background class and per-class limit: ``caltech101``, the installed copy
    (:func:`zflib.data.caltech.load_caltech101`: the 96-px mirror, upscaled above 96), or
    ``caltech101-full``, the full-size copy (:func:`zflib.data.natural.load_caltech101_full`).

    Paper: Sec. 5.2 (Caltech-101), Sec. 3 (shorter side to 256, centre 256 x 256).
    """
    from zflib.data.caltech import load_caltech101
    from zflib.data.natural import load_caltech101_full

    load = load_caltech101_full if settings.dataset == "caltech101-full" else load_caltech101
    return load(size=size, background=settings.background,
                per_class_limit=settings.per_class_limit)


def caltech101_features(model_name: str, settings: TransferSettings, *,
                        device: torch.device | str = "cpu",
                        progress: bool = True) -> tuple[Any, ImageSet, FeatureSet]:
    """The start of every Caltech-101 experiment: committed model ``model_name``
    (:func:`zflib.training.artifacts.load_trained`), the Caltech-101 of ``settings.dataset``
    at its input size (:func:`load_caltech`), and its ``settings.layers`` features, cached
    (``progress``: a bar over their batches).

    Returns ``(trained, data, features)``.

    Paper: Sec. 5.2 (layers 1-7 of the ImageNet model kept fixed), Tables 4 and 7.
    """
    trained = fixed_model(model_name, settings.layers, device=device)
    data = load_caltech(settings, trained.cfg.image_size)
    features = cached_features(trained.model, data.images, trained.mean, trained.cfg,
                               layers=settings.layers, grid=settings.grid,
                               name=f"{settings.dataset}-{model_name}", progress=progress)
    return trained, data, features


# --------------------------------------------------------------------------------------------
# classifiers


def scale_features(train: np.ndarray, test: np.ndarray, *,
                   scaling: str = "standard") -> tuple[np.ndarray, np.ndarray]:
    """Scale float features [N, D] with statistics of ``train`` alone; float32 out.

    ``standard``: per dimension, minus the training mean, divided by the training std (1 where
    it is 0); ``l2``: every vector divided by its length; ``none``: unchanged.
    """
    train = np.asarray(train, dtype=np.float32)
    test = np.asarray(test, dtype=np.float32)
    if scaling == "standard":
        mu = train.mean(0, dtype=np.float64).astype(np.float32)
        sd = train.std(0, dtype=np.float64).astype(np.float32)
        sd[sd == 0] = 1.0
        return (train - mu) / sd, (test - mu) / sd
    if scaling == "l2":
        def unit(a: np.ndarray) -> np.ndarray:
            return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        return unit(train), unit(test)
    if scaling == "none":
        return train, test
    raise ValueError(f"scaling {scaling!r} not valid; valid: standard, l2, none")


def fit_linear(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *,
               num_classes: int, loss: str = "softmax", c: float = 1.0, max_iter: int = 100,
               tol: float = 1e-6,
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A linear classifier ``x @ W + b`` minimising ``c * sum_i loss_i + ||W||^2 / 2``.

    Args:
        x: features [N, D] (float32 or float64; the fit runs in that precision).
        y: labels [N] in ``0..num_classes-1``.
        num_classes: K, the number of outputs (classes absent from ``y`` get low scores).
        loss: ``softmax`` (multinomial logistic regression, scikit-learn's
            ``LogisticRegression(C=c)``) or ``squared_hinge`` (one-vs-rest linear SVMs,
            scikit-learn's ``LinearSVC(C=c)``, all K fitted at once).
        c: inverse regularisation strength, in scikit-learn's convention.
        max_iter: L-BFGS iterations at most; ``tol``: stop earlier when the largest gradient
            entry of the (mean) objective falls below it.
        device: where to fit (a GPU makes Table 7 take seconds).

    Returns ``(W [D, K], b [K])`` on the CPU. The bias is not penalised (scikit-learn's
    ``LinearSVC`` penalises it as a weight on a constant feature: a negligible difference at
    ``intercept_scaling`` 100, tested).

    Paper: Sec. 5.2 ("train a new softmax classifier"), Sec. 5.3 ("a linear SVM or softmax").
    """
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.float()
    y = torch.as_tensor(y, dtype=torch.long)
    if x.ndim != 2 or y.shape != (x.shape[0],) or not len(y):
        raise ValueError(f"x {tuple(x.shape)} must be [N, D] and y {tuple(y.shape)} [N], N > 0")
    if c <= 0:
        raise ValueError(f"c {c} out of range (0, inf)")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f"labels {int(y.min())}..{int(y.max())} out of range "
                         f"0..{num_classes - 1}")
    if loss not in ("softmax", "squared_hinge"):
        raise ValueError(f"loss {loss!r} not valid; valid: softmax, squared_hinge")
    x, y = x.to(device), y.to(device)
    n, d = x.shape
    w = torch.zeros(d, num_classes, dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.zeros(num_classes, dtype=x.dtype, device=x.device, requires_grad=True)
    sign = -torch.ones(n, num_classes, dtype=x.dtype, device=x.device)
    sign[torch.arange(n, device=x.device), y] = 1.0
    lam = 1.0 / (c * n)  # the same minimiser as c * sum + ||W||^2 / 2, on the mean's scale
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        scores = x @ w + b
        if loss == "softmax":
            data = F.cross_entropy(scores, y)
        else:
            data = F.relu(1.0 - sign * scores).pow(2).sum(1).mean()
        total = data + 0.5 * lam * (w * w).sum()
        total.backward()
        return total

    opt.step(closure)
    return w.detach().cpu(), b.detach().cpu()


def fit_softmax(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *,
                num_classes: int, c: float = 1.0, max_iter: int = 100, tol: float = 1e-6,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression (:func:`fit_linear` with ``loss="softmax"``).

    Paper: Sec. 5.2 (a new softmax on fixed features), Tables 4 and 7.
    """
    return fit_linear(x, y, num_classes=num_classes, loss="softmax", c=c, max_iter=max_iter,
                      tol=tol, device=device)


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, *,
                classifier: str, c: float, num_classes: int, max_iter: int = 100,
                device: torch.device | str = "cpu") -> np.ndarray:
    """Train ``classifier`` on ``train_x``; scores [M, K] of ``test_x``.

    ``softmax``: :func:`fit_softmax`. ``svm``: one-vs-rest squared-hinge linear SVMs
    (:func:`fit_linear`; the objective of scikit-learn's ``LinearSVC``). ``svm-sklearn``:
    ``LinearSVC(C=c)`` itself (about 50 times slower on 3,060 x 4,096 features); columns of
    classes absent from ``train_y`` are then ``-inf``.
    """
    if classifier in ("softmax", "svm"):
        loss = "softmax" if classifier == "softmax" else "squared_hinge"
        w, b = fit_linear(train_x, train_y, num_classes=num_classes, loss=loss, c=c,
                          max_iter=max_iter, device=device)
        return (torch.as_tensor(test_x, dtype=w.dtype) @ w + b).numpy()
    if classifier == "svm-sklearn":
        from sklearn.svm import LinearSVC
        svm = LinearSVC(C=c, dual=True, max_iter=10 * max_iter, tol=1e-4, random_state=0)
        svm.fit(train_x, train_y)
        dec = svm.decision_function(test_x)
        if dec.ndim == 1:  # two classes: one score for classes_[1]
            dec = np.stack([-dec, dec], 1)
        out = np.full((len(test_x), num_classes), -np.inf, dtype=np.float64)
        out[:, svm.classes_] = dec
        return out
    raise ValueError(f"classifier {classifier!r} not valid; valid: softmax, svm, svm-sklearn")


def split_score(features: np.ndarray, labels: np.ndarray, split: Split, n: int, *,
                classifier: str, c: float, scaling: str = "standard", max_iter: int = 100,
                device: torch.device | str = "cpu") -> float:
    """Mean per-class accuracy of ``classifier`` trained on ``n`` per class of ``split``.

    Paper: Sec. 5.2, Table 4 (mean per-class accuracy of one split).
    """
    labels = np.asarray(labels)
    tr, te = split.train(n), split.test
    xtr, xte = scale_features(features[tr], features[te], scaling=scaling)
    scores = fit_predict(xtr, labels[tr], xte, classifier=classifier, c=c,
                         num_classes=int(labels.max()) + 1, max_iter=max_iter, device=device)
    return mean_class_accuracy(labels[te], scores.argmax(1))


def accuracy_curve(features: np.ndarray, labels: torch.Tensor | np.ndarray, splits: list[Split],
                   sizes: Sequence[int], *, classifier: str = "softmax", c: float = 0.1,
                   scaling: str = "standard", max_iter: int = 100,
                   device: torch.device | str = "cpu", cache: bool = False,
                   ledger: list[dict[str, Any]] | None = None,
                   progress: bool = True) -> dict[int, dict[str, Any]]:
    """For each ``n`` in ``sizes``: the summary (:func:`summarize`) over ``splits`` of
    ``classifier`` on ``features`` [N, D] trained with ``n`` images per class; ``progress``:
    a bar over the fits (none when they are read from the cache).

    With ``cache``, the result is stored under ``$ZF_HOME/cache/classifiers/`` keyed by the
    features' and labels' bytes, the splits and every setting (:func:`cached_curve`), so a
    rerun of a notebook refits nothing; ``ledger`` (a list) then gets one
    ``{"seconds", "cached"}`` per curve: the time its fits took when they ran, and whether
    this call read them back.

    Paper: Table 4 (n = 15, 30), Fig. 9 (n = 1..60 on Caltech-256).
    """
    labels = np.asarray(labels)
    if cache:
        return cached_curve(features, labels, splits, sizes, ledger=ledger, classifier=classifier,
                            c=c, scaling=scaling, max_iter=max_iter, device=device,
                            progress=progress)
    fits = bar(total=len(sizes) * len(splits), progress=progress, unit="fit",
               desc=f"{classifier} fits")
    curve = {}
    for n in sizes:
        scores = []
        for s in splits:
            scores.append(split_score(features, labels, s, n, classifier=classifier, c=c,
                                      scaling=scaling, max_iter=max_iter, device=device))
            fits.update(1)
        curve[int(n)] = summarize(scores)
    fits.close()
    return curve


def cached_curve(features: np.ndarray, labels: np.ndarray, splits: list[Split],
                 sizes: Sequence[int], *, ledger: list[dict[str, Any]] | None = None,
                 progress: bool = True, **fit: Any) -> dict[int, dict[str, Any]]:
    """:func:`accuracy_curve` (``fit``: its keyword settings), read from
    ``$ZF_HOME/cache/classifiers/<key>.json`` when that exact fit ran before, else computed
    and stored there with the seconds it took. The key hashes the features, the labels, every
    split's indices, the sizes, the settings and the device type (a GPU's float sums differ in
    the last digits). ``ledger`` and ``progress``: as in :func:`accuracy_curve`."""
    device = torch.device(fit.get("device", "cpu"))
    split_bytes = [torch.from_numpy(np.concatenate([*sp.order, sp.test]).astype(np.int64))
                   for sp in splits]
    key = cache_key(tensor_digest(torch.from_numpy(np.ascontiguousarray(features)),
                                  torch.from_numpy(np.asarray(labels).astype(np.int64)),
                                  *split_bytes),
                    [int(n) for n in sizes], {k: v for k, v in fit.items() if k != "device"},
                    device.type)
    path = cache_dir() / "classifiers" / f"{key}.json"
    ledger = ledger if ledger is not None else []
    if path.exists():
        try:
            entry = json.loads(path.read_text())
            curve = {int(n): v for n, v in entry["curve"].items()}
            ledger.append({"seconds": float(entry["seconds"]), "cached": True})
            return curve
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # a torn, corrupt or older entry: fit again and rewrite it
    t0 = time.perf_counter()
    curve = accuracy_curve(features, labels, splits, sizes, progress=progress, **fit)
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"seconds": seconds, "curve": curve}))
    tmp.replace(path)  # whole or absent, also when killed
    ledger.append({"seconds": seconds, "cached": False})
    return curve


def layer_table(features: dict[str, np.ndarray], labels: torch.Tensor | np.ndarray,
                splits: list[Split], *, size: int, layers: Sequence[str] = LAYERS,
                classifiers: dict[str, float] | None = None, scaling: str = "standard",
                max_iter: int = 100, device: torch.device | str = "cpu", cache: bool = False,
                ledger: list[dict[str, Any]] | None = None,
                progress: bool = True) -> dict[str, dict[str, dict[str, Any]]]:
    """``{classifier: {layer: summary}}``: each classifier on each layer's features, trained
    with ``size`` images per class on every split. ``classifiers`` maps ``svm``/``softmax`` to
    its ``C`` (default both, with :class:`TransferSettings`' values); ``cache`` and ``ledger``
    as in :func:`accuracy_curve`; ``progress``: a bar over the (classifier, layer) curves.

    Paper: Sec. 5.3, Table 7.
    """
    s = TransferSettings()
    classifiers = classifiers or {"svm": s.svm_c, "softmax": s.softmax_c}
    labels = np.asarray(labels)
    curves = bar(total=len(classifiers) * len(layers), progress=progress, unit="curve",
                 desc="fits per layer")
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for clf, c in classifiers.items():
        table[clf] = {}
        for layer in layers:
            curves.set_postfix_str(f"{clf} on {layer}", refresh=False)
            table[clf][layer] = accuracy_curve(features[layer], labels, splits, [size],
                                               classifier=clf, c=c, scaling=scaling,
                                               max_iter=max_iter, device=device, cache=cache,
                                               ledger=ledger, progress=False)[size]
            curves.update(1)
    curves.close()
    return table


# --------------------------------------------------------------------------------------------
# the experiments, as the notebooks run them


def _describe(data: ImageSet, settings: TransferSettings, cfg: Config, name: str,
              model_name: str) -> dict[str, Any]:
    return {"dataset": name, "source": settings.dataset if name == "caltech101" else name,
            "model": model_name, "upscaled_from": data.upscaled_from,
            "images": len(data),
            "classes": len(data.classes), "settings": dataclasses.asdict(settings),
            "input": (f"shorter side to {data.upscaled_from}, centre {data.upscaled_from}x"
                      f"{data.upscaled_from} upscaled to {cfg.image_size} by bicubic, "
                      if data.upscaled_from else f"shorter side to {cfg.image_size}, ")
                     + f"centre {cfg.image_size}x{cfg.image_size}, network sees the centre "
                     f"{cfg.crop_size}x{cfg.crop_size}"}


def table4_splits(labels: torch.Tensor | np.ndarray, s: TransferSettings) -> list[Split]:
    """The splits of Table 4 and Fig. 9 under settings ``s``: nested, reserving the largest
    training-set size any part uses (pretrained curve or from-scratch baseline)."""
    reserve = max((*s.table_sizes, *s.curve_sizes, *s.scratch_sizes))
    return make_splits(labels, reserve=reserve, test_per_class=s.test_per_class,
                       splits=s.splits, seed=s.seed)


def run_table4(features: FeatureSet, data: ImageSet, cfg: Config, settings: TransferSettings,
               *, scratch: dict[str, Any] | None = None, device: torch.device | str = "cpu",
               dataset: str = "caltech101", model_name: str = "zfnet64",
               progress: bool = True) -> dict[str, Any]:
    """Table 4 and Fig. 9 on ``data``: a softmax on fixed fc7 features for every size in
    ``settings.table_sizes`` and ``settings.curve_sizes``, beside ``scratch``, the
    from-scratch baseline as :func:`zflib.paper.scratch.baseline` returns it (None: left out).

    Returns a JSON-ready dict: ``pretrained`` and ``scratch`` map ``n`` to summaries;
    ``seconds`` the time of each part; ``paper`` the paper's Table 4 (``dataset="caltech101"``)
    or Table 5 (``"caltech256"``; use ``table_sizes=(15, 30, 45, 60)``). ``progress``: a bar
    over the classifier fits.

    Paper: Sec. 5.2, Tables 4 and 5, Fig. 9 (there on Caltech-256).
    """
    s = settings
    sizes = sorted(set(s.table_sizes) | set(s.curve_sizes))
    splits = table4_splits(data.labels, s)
    fits: list[dict[str, Any]] = []
    pre = accuracy_curve(features.layers["fc7"], data.labels, splits, sizes,
                         classifier="softmax", c=s.softmax_c, scaling=s.scaling,
                         max_iter=s.max_iter, device=device, cache=True, ledger=fits,
                         progress=progress)
    scratch = scratch or {}
    return {**_describe(data, s, cfg, dataset, model_name),
            "table_sizes": list(s.table_sizes), "pretrained": pre,
            "scratch": scratch.get("scratch", {}),
            "scratch_source": scratch.get("source", ""),
            "scratch_machine": scratch.get("machine", ""),
            "scratch_epochs": scratch.get("epochs"),
            # the architecture trained from scratch: another one's when it stands in
            "scratch_model": scratch.get("model", model_name) if scratch else "",
            # the copy whose splits the stand-in was trained on, when not this one's
            "scratch_dataset": scratch.get("reference_dataset", ""),
            "seconds": {"features": features.seconds, "features_cached": features.cached,
                        # the fits' own time, also when read back from the cache
                        "pretrained_classifiers": sum(f["seconds"] for f in fits),
                        "classifiers_cached": all(f["cached"] for f in fits),
                        "scratch": float(scratch.get("seconds", 0.0))},  # wall, where trained
            "machine": machine_name(torch.device(device)),
            "paper": {k: {str(n): v for n, v in row.items()}
                      for k, row in PAPER_TABLES.get(dataset, {}).items()}}


def run_table7(features: FeatureSet, data: ImageSet, cfg: Config, settings: TransferSettings,
               *, device: torch.device | str = "cpu", dataset: str = "caltech101",
               model_name: str = "zfnet64", progress: bool = True) -> dict[str, Any]:
    """Table 7 on ``data``: a linear SVM and a softmax on each layer's features, trained with
    ``settings.layer_size`` images per class, over the first ``settings.layer_splits`` of
    ``settings.splits`` splits (0: all of them).

    Returns a JSON-ready dict: ``layers`` maps ``svm``/``softmax`` to ``{layer: summary}``;
    ``dims`` the feature length of each layer; ``paper`` the paper's Table 7. ``progress``:
    a bar over the (classifier, layer) curves.

    Paper: Sec. 5.3, Table 7.
    """
    s = settings
    splits = make_splits(data.labels, reserve=s.layer_size, test_per_class=s.test_per_class,
                         splits=s.layer_splits or s.splits, seed=s.seed)
    fits: list[dict[str, Any]] = []
    table = layer_table(features.layers, data.labels, splits, size=s.layer_size,
                        layers=s.layers, classifiers={"svm": s.svm_c, "softmax": s.softmax_c},
                        scaling=s.scaling, max_iter=s.max_iter, device=device, cache=True,
                        ledger=fits, progress=progress)
    paper = {f"{clf}:{layer}": v[dataset] for (clf, layer), v in PAPER_TABLE7.items()
             if dataset in v}
    return {**_describe(data, s, cfg, dataset, model_name), "size": s.layer_size,
            "layers": table, "dims": {n: int(features.layers[n].shape[1]) for n in s.layers},
            "seconds": {"features": features.seconds, "features_cached": features.cached,
                        "classifiers": sum(f["seconds"] for f in fits),  # as in run_table4
                        "classifiers_cached": all(f["cached"] for f in fits)},
            "machine": machine_name(torch.device(device)), "paper": paper}


# --------------------------------------------------------------------------------------------
# PASCAL VOC 2012 (Table 6)


def voc_ap(scores: np.ndarray, targets: np.ndarray) -> float:
    """Average precision of one class, as the VOC 2010+ devkit computes it.

    ``scores`` [N]; ``targets`` [N] with 1 (positive), -1 (negative), 0 (difficult: ignored).
    Precision is made monotone (the maximum precision at any higher recall) and integrated
    over the recall steps. Paper: Table 6.
    """
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    keep = targets != 0
    scores, targets = scores[keep], targets[keep]
    npos = int((targets == 1).sum())
    if npos == 0:
        raise ValueError("no positive example: AP is undefined")
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(targets[order] == 1)
    fp = np.cumsum(targets[order] != 1)
    rec = np.concatenate([[0.0], tp / npos, [1.0]])
    prec = np.concatenate([[0.0], tp / np.maximum(tp + fp, 1), [0.0]])
    for i in range(len(prec) - 2, -1, -1):
        prec[i] = max(prec[i], prec[i + 1])
    steps = np.flatnonzero(rec[1:] != rec[:-1]) + 1
    return float(np.sum((rec[steps] - rec[steps - 1]) * prec[steps]))


def run_voc(train_x: np.ndarray, train_targets: torch.Tensor | np.ndarray, test_x: np.ndarray,
            test_targets: torch.Tensor | np.ndarray, *, c: float = 0.1,
            scaling: str = "standard", classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Table 6: a 20-way softmax on fixed features, scored by per-class AP (%) on the test
    images. An image with several classes counts once per class it contains (its flags 1 and 0:
    difficult objects are present, so they train), as the paper's "single exclusive prediction"
    softmax implies.

    Paper: Sec. 5.2, Table 6.
    """
    tt, vt = np.asarray(train_targets), np.asarray(test_targets)
    rows, cols = np.nonzero(tt >= 0)
    xtr, xte = scale_features(np.asarray(train_x)[rows], test_x, scaling=scaling)
    k = tt.shape[1]
    w, b = fit_softmax(xtr, cols, num_classes=k, c=c)
    probs = torch.softmax(torch.as_tensor(xte) @ w + b, 1).numpy()
    names = list(classes) if classes is not None else [str(j) for j in range(k)]
    ap = {names[j]: 100.0 * voc_ap(probs[:, j], vt[:, j]) for j in range(k)
          if (vt[:, j] == 1).any()}
    return {"ap": ap, "mean_ap": float(np.mean(list(ap.values()))),
            "paper_mean_ap": PAPER_TABLE6_MEAN_AP}


__all__ = ["LAYERS", "PAPER_TABLE4", "PAPER_TABLE5", "PAPER_TABLE6_MEAN_AP", "PAPER_TABLE7",
           "FeatureSet", "Split", "TransferSettings", "TRANSFER_PROFILES", "accuracy_curve",
           "cached_curve",
           "cached_features", "default_device", "fit_linear", "fit_predict", "fit_softmax",
           "layer_features", "layer_table", "load_caltech", "make_splits",
           "mean_class_accuracy", "pool_features", "run_table4", "run_table7", "run_voc",
           "scale_features", "split_score", "summarize", "table4_splits", "transfer_settings",
           "voc_ap"]
