"""Transfer classifiers: zflib's L-BFGS softmax and squared-hinge SVM against scikit-learn's
``LogisticRegression`` and ``LinearSVC``, same process, same features.

Features: the committed ZFNet-64's fc7 on Caltech-101 (``--per-class`` training images per class,
one split of seed 100, standardised; extracted once and cached), or, when the model or the
dataset is missing, fc7-shaped synthetic data (Gaussian clusters in 4,096 dimensions, ReLU'd);
``features`` in the JSON says which. Synthetic clusters are either trivially separable or
hopeless, and scikit-learn's solvers converge on them much faster than on real features.

1. ``softmax_speedup``: ``LogisticRegression(C)`` time / ``fit_softmax`` time (zflib's default
   50 L-BFGS iterations); ``softmax_agreement``: fraction of test predictions that agree.
2. ``svm_speedup``: ``LinearSVC(C)`` time / ``fit_linear(loss="squared_hinge")`` time;
   ``svm_agreement`` likewise.
3. ``extract_images_per_s``: :func:`zflib.methods.transfer.layer_features` (layers 1-7 pooled) on
   ZFNet-64, random weights, 256 random images.

Run: ``python benchmarks/bench_transfer.py [--per-class 30] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _args import check
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from zflib.config import get_config
from zflib.methods import transfer
from zflib.training.models import build_model
from zflib.training.train import machine_name


def _data(k: int, per_class: int, d: int = 4096, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d)).astype(np.float32)

    def draw(n):
        y = np.repeat(np.arange(k), n)
        x = np.maximum(centres[y] + rng.normal(0, 6.0, (len(y), d)).astype(np.float32), 0)
        return x, y

    (xtr, ytr), (xte, yte) = draw(per_class), draw(10)
    xtr, xte = transfer.scale_features(xtr, xte)
    return xtr, ytr, xte, yte


def _caltech(per_class: int):
    from zflib.data.caltech import load_caltech101
    from zflib.training.artifacts import load_trained

    trained = load_trained("zfnet64")
    data = load_caltech101(size=trained.cfg.image_size)
    feats = transfer.cached_features(trained.model, data.images, trained.mean, trained.cfg,
                                     name="caltech101-zfnet64")
    y = data.labels.numpy()
    split = transfer.make_splits(y, reserve=per_class, splits=1, seed=100)[0]
    tr, te = split.train(per_class), split.test
    xtr, xte = transfer.scale_features(feats.layers["fc7"][tr], feats.layers["fc7"][te])
    return xtr, y[tr], xte, y[te]


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    check(p, args, "per_class", "threads")
    torch.set_num_threads(args.threads)
    s = transfer.TransferSettings()
    try:
        xtr, ytr, xte, yte = _caltech(args.per_class)
        source = "caltech101 fc7 (zfnet64)"
    except (FileNotFoundError, ValueError) as err:
        print(f"no Caltech-101 features ({err}); synthetic data instead")
        xtr, ytr, xte, yte = _data(102, args.per_class)
        source = "synthetic"
    k = int(ytr.max()) + 1
    res: dict[str, float | str] = {"classes": k, "train_images": len(ytr),
                                   "dims": int(xtr.shape[1])}

    ours, t_ours = _time(lambda: transfer.fit_predict(xtr, ytr, xte, classifier="softmax",
                                                      c=s.softmax_c, num_classes=k,
                                                      max_iter=s.max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref, t_ref = _time(lambda: LogisticRegression(C=s.softmax_c, max_iter=1000)
                           .fit(xtr, ytr).predict(xte))
    res.update(softmax_zflib_s=t_ours, softmax_sklearn_s=t_ref, softmax_speedup=t_ref / t_ours,
               softmax_agreement=float((ours.argmax(1) == ref).mean()),
               softmax_zflib_acc=transfer.mean_class_accuracy(yte, ours.argmax(1)),
               softmax_sklearn_acc=transfer.mean_class_accuracy(yte, ref))

    ours, t_ours = _time(lambda: transfer.fit_predict(xtr, ytr, xte, classifier="svm",
                                                      c=s.svm_c, num_classes=k,
                                                      max_iter=s.max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref, t_ref = _time(lambda: LinearSVC(C=s.svm_c, dual=True, max_iter=5000)
                           .fit(xtr, ytr).predict(xte))
    res.update(svm_zflib_s=t_ours, svm_sklearn_s=t_ref, svm_speedup=t_ref / t_ours,
               svm_agreement=float((ours.argmax(1) == ref).mean()),
               svm_zflib_acc=transfer.mean_class_accuracy(yte, ours.argmax(1)),
               svm_sklearn_acc=transfer.mean_class_accuracy(yte, ref))

    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    images = torch.randint(0, 256, (256, 64, 64, 3), dtype=torch.uint8)
    cfg = get_config("full")
    transfer.layer_features(model, images[:16], torch.zeros(3, 64, 64), cfg)  # warm-up
    _, t = _time(lambda: transfer.layer_features(model, images, torch.zeros(3, 64, 64), cfg))
    res["extract_images_per_s"] = len(images) / t
    res["machine"] = f"{machine_name(torch.device('cpu'))}; features: {source}"

    out = Path(__file__).parent / "results" / "bench_transfer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"softmax: zflib {res['softmax_zflib_s']:.1f} s vs sklearn "
          f"{res['softmax_sklearn_s']:.1f} s ({res['softmax_speedup']:.1f}x), agreement "
          f"{res['softmax_agreement']:.3f}")
    print(f"svm:     zflib {res['svm_zflib_s']:.1f} s vs LinearSVC {res['svm_sklearn_s']:.1f} s "
          f"({res['svm_speedup']:.1f}x), agreement {res['svm_agreement']:.3f}")
    print(f"features: {res['extract_images_per_s']:.0f} images/s (layers 1-7, pooled)")


if __name__ == "__main__":
    main()
