"""Tables 5 and 6 (Caltech-256, PASCAL VOC 2012) on a user's copy, from the command line.

The same pipeline as Table 4 (notebook 10): layers 1-7 of a committed Tiny ImageNet network kept
fixed, fc7 features extracted once and cached, a new softmax on top. No copy of either dataset
is here, so no result of ours is committed; the loaders and this path are tested on small
synthetic trees of the official layouts (``tests/test_tables56.py``).

- Caltech-256 (Table 5, and Fig. 9, which the paper draws on Caltech-256): 15, 30, 45 and 60
  training images per class, tested on up to 50 others, over the profile's random splits; the
  ``257.clutter`` class is kept (as the background class is for Caltech-101, see
  :mod:`zflib.methods.transfer`). No from-scratch baseline: that is a training job per split and
  size (``zflib.paper.scratch`` runs it for Caltech-101).
- PASCAL VOC 2012 (Table 6): trained on ``train``, scored on ``val`` (the paper's test set is
  scored by the evaluation server only), per-class average precision as the VOC devkit computes
  it (:func:`zflib.methods.transfer.voc_ap`).

Run::

    python -m zflib.paper.tables56 caltech256 --root path/to/256_ObjectCategories
    python -m zflib.paper.tables56 voc2012 --root path/to/VOCdevkit

Each prints its table beside the paper's numbers and writes
``<out>/table5_caltech256_<profile>.json`` (and Fig. 9's PNG) or
``<out>/table6_voc2012_<profile>.json``.

Paper: Sec. 5.2, Tables 5 and 6, Fig. 9.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from zflib.config import transfer_settings
from zflib.data.caltech import load_caltech256
from zflib.data.voc import load_voc2012
from zflib.methods import transfer
from zflib.training.train import machine_name

# Table 5's training-set sizes, and Fig. 9's x-axis on Caltech-256 (the paper: 1 to 60).
CALTECH256_SIZES = (15, 30, 45, 60)
CALTECH256_CURVE = (1, 2, 3, 5, 10, 15, 20, 30, 40, 45, 50, 60)


def run_caltech256(root: str | Path, *, profile: str = "full", model_name: str = "zfnet64",
                   device: torch.device | str = "", **overrides: Any) -> dict[str, Any]:
    """Table 5 and Fig. 9 on the Caltech-256 copy at ``root``: a softmax on fixed fc7 features.

    Args:
        root: the ``256_ObjectCategories`` folder or its parent.
        profile: the transfer profile (``zflib.config.TRANSFER_PROFILES``); its splits,
            classifier and test settings apply. Outside ``smoke``, the training sizes are
            Table 5's (15, 30, 45, 60) and Fig. 9's curve runs from 1 to 60.
        model_name: the committed artifact whose layers 1-7 are kept fixed.
        device: where features and classifiers run; empty: a GPU if present.
        overrides: further :class:`zflib.config.TransferSettings` fields.

    Returns :func:`zflib.methods.transfer.run_table4`'s dict (``dataset="caltech256"``, the paper's
    Table 5 under ``paper``).

    Paper: Sec. 5.2, Table 5 and Fig. 9.
    """
    sizes = {} if profile == "smoke" else dict(table_sizes=CALTECH256_SIZES,
                                               curve_sizes=CALTECH256_CURVE)
    settings = transfer_settings(profile, **{**sizes, "scratch_sizes": (), **overrides})
    device = device or transfer.default_device()
    trained = transfer.fixed_model(model_name, ("fc7",), device=device)
    data = load_caltech256(root, size=trained.cfg.image_size, clutter=settings.background,
                           per_class_limit=settings.per_class_limit)
    need = max((*settings.table_sizes, *settings.curve_sizes)) + 1
    short = [data.classes[c] for c in range(len(data.classes))
             if int((data.labels == c).sum()) < need]
    if short:
        raise ValueError(f"{len(short)} class(es) of {root} have fewer than {need} images "
                         f"({', '.join(short[:3])}); Table 5 needs {need - 1} for training and "
                         "one to test: is this the whole Caltech-256?")
    features = transfer.cached_features(trained.model, data.images, trained.mean, trained.cfg,
                                        layers=("fc7",), grid=settings.grid,
                                        name=f"caltech256-{model_name}")
    return transfer.run_table4(features, data, trained.cfg, settings, device=device,
                               dataset="caltech256", model_name=model_name)


def run_voc2012(root: str | Path, *, profile: str = "full", model_name: str = "zfnet64",
                device: torch.device | str = "", **overrides: Any) -> dict[str, Any]:
    """Table 6 on the PASCAL VOC 2012 copy at ``root``: a 20-way softmax on fixed fc7
    features of the ``train`` images, per-class AP on the ``val`` images.

    Args: as :func:`run_caltech256` (``root``: ``VOCdevkit``, ``VOC2012`` or their parent;
        of the settings, the softmax's ``softmax_c`` and ``scaling`` apply).

    Returns :func:`zflib.methods.transfer.run_voc`'s dict with the images used, the model and times.

    Paper: Sec. 5.2, Table 6.
    """
    settings = transfer_settings(profile, **overrides)
    device = device or transfer.default_device()
    trained = transfer.fixed_model(model_name, ("fc7",), device=device)
    parts = {}
    for split in ("train", "val"):
        data = load_voc2012(root, split, size=trained.cfg.image_size)
        parts[split] = (data, transfer.cached_features(
            trained.model, data.images, trained.mean, trained.cfg, layers=("fc7",),
            grid=settings.grid, name=f"voc2012-{split}-{model_name}"))
    (train, ftr), (val, fte) = parts["train"], parts["val"]
    t1 = time.perf_counter()
    out = transfer.run_voc(ftr.layers["fc7"], train.targets, fte.layers["fc7"], val.targets,
                           c=settings.softmax_c, scaling=settings.scaling, classes=train.classes)
    return {**out, "dataset": "voc2012", "model": model_name, "train_images": len(train.ids),
            "test_images": len(val.ids), "failed": train.failed + val.failed,
            # as run_table4 reports them: extraction when first done (cached after)
            "seconds": {"features": ftr.seconds + fte.seconds,
                        "features_cached": ftr.cached and fte.cached,
                        "classifier": time.perf_counter() - t1},
            "machine": machine_name(torch.device(device))}


def main(argv: list[str] | None = None) -> None:
    """``python -m zflib.paper.tables56 {caltech256,voc2012} --root PATH``: see the module notes."""
    from zflib.results import save_results
    from zflib.viz import save_figure
    from zflib.viz import transfer as vt

    ap = argparse.ArgumentParser(prog="python -m zflib.paper.tables56", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", choices=["caltech256", "voc2012"])
    ap.add_argument("--root", required=True, help="your copy, in the official layout")
    ap.add_argument("--profile", default="full", help="transfer profile (default: full)")
    ap.add_argument("--model", default="zfnet64", help="committed artifact (default: zfnet64)")
    ap.add_argument("--device", default="", help="cpu, cuda, ... (default: a GPU if present)")
    ap.add_argument("--out", default="build/results", help="where the JSON and PNG go")
    args = ap.parse_args(argv)
    from zflib.distributed import device_error

    if args.device and (bad := device_error(args.device)):
        ap.error(bad)
    if Path(args.out).exists() and not Path(args.out).is_dir():  # found before the work
        ap.error(f"--out {args.out} is a file, not a folder")
    kw = dict(profile=args.profile, model_name=args.model, device=args.device)
    try:
        results = (run_caltech256 if args.dataset == "caltech256" else run_voc2012)(args.root,
                                                                                     **kw)
    except (ValueError, FileNotFoundError) as err:  # a wrong path or setting: say it plainly
        ap.exit(2, f"{ap.prog}: error: {err}\n")
    if args.dataset == "caltech256":
        print(vt.table4_markdown(results))
        png = save_figure(vt.plot_fig9(results, title="Caltech-256"),
                          f"fig09_caltech256_{args.profile}", folder=args.out, close=True)
        print(f"wrote {png}")
        name = f"table5_caltech256_{args.profile}"
    else:
        print(vt.table6_markdown(results))
        name = f"table6_voc2012_{args.profile}"
    print(f"wrote {save_results(results, name, args.out, profile=args.profile)}")


if __name__ == "__main__":
    main()
