"""The non-pretrained baseline of Table 4 and Fig. 9: the same architecture trained from scratch
on each split's Caltech-101 training images alone.

Budget (the paper gives no schedule): ``scratch_epochs`` passes over each training set, the same
for every training-set size, in steps of ``min(scratch_batch_size, N)`` images
(:func:`steps_for`). A fixed number of *steps* instead would give the smaller sets more passes:
at 300 steps of 128, 15 per class (25 epochs) scored above 30 per class (12.5 epochs), the
opposite of what more data does once both are trained alike.

Every (split, size) run is independent and seeded (``1000 * split + n``), so runs go to worker
processes (one torch thread each) and the result does not depend on how many there are; each
finished run's score is kept under ``$ZF_HOME/cache/scratch-runs-<run key>/`` so that a killed
job resumes where it stopped. A run's key (:func:`run_key`) leaves out which sizes and how many
splits the baseline asks for: adding sizes to a baseline trains only the new runs, and the runs
of an earlier artifact whose key still matches are taken over (:func:`reusable_runs`).

What takes long is committed: ``python -m zflib.paper.scratch --profile full --workers 2`` writes
``artifacts/transfer/caltech101-scratch-full.json``, which notebook 10 reads
(:func:`baseline` with ``source="auto"``) when its key (settings, architecture, labels) matches,
whichever profile wrote it.

Paper: Sec. 5.2, Table 4 and Fig. 9 ("Non-pretrained convnet").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zflib.config import ANALYSIS, Config, TransferSettings, repo_relative, transfer_settings
from zflib.data.common import ImageSet, cache_dir, cache_key, tensor_digest
from zflib.data.transforms import normalize, random_crop_flip
from zflib.methods.transfer import (
    Split,
    load_caltech,
    mean_class_accuracy,
    summarize,
    table4_splits,
)
from zflib.results import load_saved, save_results
from zflib.training.evaluate import predict
from zflib.training.models import ConvNet, model_from_config
from zflib.training.train import machine_name, make_optimizer, update

# TransferSettings fields that decide the baseline's result (the splits and the training)
KEY_FIELDS = ("splits", "table_sizes", "curve_sizes", "test_per_class", "per_class_limit",
              "background", "seed", "scratch_splits", "scratch_curve_splits", "scratch_sizes",
              "scratch_epochs", "scratch_batch_size", "scratch_lr")
# what one (split, n) run depends on: the sizes enter only through the largest, which the splits
# reserve (zflib.methods.transfer.table4_splits); scratch_sizes and the two split counts choose runs
# only
RUN_FIELDS = ("splits", "test_per_class", "per_class_limit", "background", "seed",
              "scratch_epochs", "scratch_batch_size", "scratch_lr")
# Config fields that do not change what a scratch run computes
_ENV_FIELDS = ("profile", "data_root", "num_threads", "eval_batch_size", "checkpoint_every",
               "keep_epochs", "train_per_class", "val_limit", "epochs", "max_steps", "lr",
               "optimizer", *ANALYSIS)


def steps_for(n_images: int, epochs: float, batch_size: int) -> int:
    """Optimiser steps for ``epochs`` passes over ``n_images`` in batches of
    ``min(batch_size, n_images)`` (at least one)."""
    if n_images < 1 or epochs <= 0 or batch_size < 1:
        raise ValueError(f"need n_images >= 1, epochs > 0, batch_size >= 1; got {n_images}, "
                         f"{epochs}, {batch_size}")
    return max(1, math.ceil(epochs * n_images / min(batch_size, n_images)))


def train_scratch(images: torch.Tensor, labels: torch.Tensor, cfg: Config, *, num_classes: int,
                  steps: int, batch_size: int = 64, lr: float = 2e-4, seed: int = 0,
                  device: torch.device | str = "cpu") -> tuple[ConvNet, torch.Tensor]:
    """Train ``cfg``'s architecture from scratch on uint8 ``images`` [N, H, W, 3].

    The 64-pixel recipe of :mod:`zflib.config` at a constant rate: ``cfg``'s initialisation,
    AdamW (``lr``, ``cfg.weight_decay``), dropout ``cfg.dropout``, random ``cfg.crop_size``
    crops and flips, filter renormalisation when ``cfg.renorm``; the mean image is that of
    these training images. Runs ``steps`` steps of ``min(batch_size, N)`` images, reshuffling
    every epoch; bf16 autocast on CUDA.

    Returns ``(model in eval mode, mean image [3, H, W])``.

    Paper: Sec. 5.2 ("Non-pretrained convnet": the same architecture trained on the Caltech
    images alone).
    """
    device = torch.device(device)
    if steps < 1:
        raise ValueError(f"steps {steps} out of range 1..")
    torch.manual_seed(seed)
    model = model_from_config(dataclasses.replace(cfg, num_classes=num_classes)).to(device)
    mean = images.double().mean(0).permute(2, 0, 1).float()
    x_all = images.to(device)
    y_all = labels.to(device)
    mean_d = mean.to(device)
    opt = make_optimizer(dataclasses.replace(cfg, optimizer="adam"), model, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    bs = min(batch_size, len(images))
    amp = device.type == "cuda"
    perm, pos = torch.randperm(len(images), generator=gen), 0
    for _ in range(steps):
        if pos + bs > len(perm):
            perm, pos = torch.randperm(len(images), generator=gen), 0
        idx = perm[pos:pos + bs].to(device)
        pos += bs
        x = random_crop_flip(normalize(x_all[idx], mean_d, cfg.input_scale), cfg.crop_size, gen)
        update(model, model, opt, x, y_all[idx], cfg, amp=amp)
    return model.eval(), mean


@torch.no_grad()
def predict_centre(model: ConvNet, images: torch.Tensor, mean: torch.Tensor, cfg: Config, *,
                   batch_size: int = 256) -> np.ndarray:
    """Predicted classes [N] of ``model`` on the centre crops of uint8 ``images``."""
    device = next(model.parameters()).device
    return predict(model, images, mean, cfg, device=device, batch_size=batch_size).argmax(1).numpy()


# --------------------------------------------------------------------------------------------
# one run, in this process or a worker


_WORKER: dict[str, Any] = {}


def _init_worker(data: ImageSet, cfg: Config, splits: list[Split], s: TransferSettings,
                 device: str) -> None:
    torch.set_num_threads(1)  # one thread per run, here or in a worker: the same numbers
    _WORKER.update(data=data, cfg=cfg, splits=splits, s=s, device=device)


def _run(job: tuple[int, int]) -> dict[str, Any]:
    """Train and score the run of split ``i`` at ``n`` per class (worker state: _WORKER)."""
    i, n = job
    w = _WORKER
    data, s, split = w["data"], w["s"], w["splits"][i]
    labels = data.labels.numpy()
    tr = torch.as_tensor(split.train(n))
    steps = steps_for(len(tr), s.scratch_epochs, s.scratch_batch_size)
    t0 = time.perf_counter()
    model, mean = train_scratch(data.images[tr], data.labels[tr], w["cfg"],
                                num_classes=int(labels.max()) + 1, steps=steps,
                                batch_size=s.scratch_batch_size, lr=s.scratch_lr,
                                seed=1000 * i + n, device=w["device"])
    pred = predict_centre(model, data.images[torch.as_tensor(split.test)], mean, w["cfg"])
    return {"split": i, "n": n, "steps": steps, "seconds": time.perf_counter() - t0,
            "accuracy": mean_class_accuracy(labels[split.test], pred)}


# --------------------------------------------------------------------------------------------
# the whole baseline


def scratch_config(cfg: Config, s: TransferSettings) -> Config:
    """The baseline's config: the pretrained net's ``cfg`` with conv1 initialised as
    ``s.scratch_first_layer_std`` says."""
    return dataclasses.replace(cfg, first_layer_std=s.scratch_first_layer_std)


# Recipe fields that came after the committed baselines were keyed: left out of a key at these,
# their defaults (what those runs trained with), so that the keys made before stay valid
_LATER_FIELDS = {"schedule": "plateau", "warmup_epochs": 0.0, "label_smoothing": 0.0}


def _recipe(cfg: Config) -> dict[str, Any]:
    """The architecture and recipe fields of ``cfg``: those a scratch run reads."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _ENV_FIELDS
            and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


def baseline_key(data: ImageSet, cfg: Config, s: TransferSettings, *,
                 fields: tuple[str, ...] = KEY_FIELDS) -> str:
    """What decides the baseline's numbers: the settings in ``fields`` (an artifact written
    before a field joined ``KEY_FIELDS`` was keyed without it), the architecture and recipe
    fields of ``cfg``, and the dataset's labels.

    Note: the images are not hashed, on purpose: the mirror's 96-pixel Caltech-101 and the
    official archive decode to nearly the same 64-pixel images, and the committed baseline
    (about 80 minutes of training) serves both; another class list or split changes the labels.
    """
    return cache_key({f: getattr(s, f) for f in fields}, _recipe(cfg),
                     tensor_digest(data.labels))


def run_key(data: ImageSet, cfg: Config, s: TransferSettings) -> str:
    """What decides one run's score besides its split and size: the settings in
    ``RUN_FIELDS``, the splits' reserve, the architecture and recipe fields of ``cfg`` and the
    labels (as :func:`baseline_key`, less the choice of sizes and splits)."""
    reserve = max((*s.table_sizes, *s.curve_sizes, *s.scratch_sizes))
    return cache_key({f: getattr(s, f) for f in RUN_FIELDS}, {"reserve": reserve}, _recipe(cfg),
                     tensor_digest(data.labels))


def reusable_runs(path: str | os.PathLike, data: ImageSet, cfg: Config,
                  s: TransferSettings) -> list[dict[str, Any]]:
    """The runs of the artifact at ``path`` (written by :func:`main`) that a baseline under
    ``s`` may take over: all of them when the artifact's key, recomputed under ``s`` with the
    artifact's own ``scratch_sizes``, ``scratch_splits`` and ``scratch_curve_splits`` and
    over the ``KEY_FIELDS`` its settings record, matches (the same runs, trained alike); none
    otherwise, or when there is no such file.
    ``cfg``: as given to :func:`run_baseline` (before :func:`scratch_config`)."""
    path = Path(path)
    if not path.is_file():
        return []
    saved = load_baseline(path)
    own = saved.get("settings", {})
    fields = tuple(f for f in KEY_FIELDS if f in own)  # as it was keyed when written
    if "runs" not in saved or "scratch_sizes" not in own:
        return []
    chosen = {f: int(own[f]) for f in ("scratch_splits", "scratch_curve_splits") if f in own}
    theirs = dataclasses.replace(s, scratch_sizes=tuple(own["scratch_sizes"]), **chosen)
    if saved.get("key") != baseline_key(data, scratch_config(cfg, theirs), theirs, fields=fields):
        return []
    # runs written before each run named its machine were all trained by the artifact's
    return [{"machine": saved["machine"], **r} if "machine" in saved else r
            for r in saved["runs"]]


def committed_runs(data: ImageSet, cfg: Config, s: TransferSettings,
                   *extra: str | os.PathLike) -> list[dict[str, Any]]:
    """:func:`reusable_runs` of every baseline in ``artifacts/transfer/`` and of ``extra``
    files: what a baseline under ``s`` need not train again (``paper`` takes over ``full``'s)."""
    paths = {*committed_baselines(), *map(Path, extra)}
    return [r for path in sorted(paths) for r in reusable_runs(path, data, cfg, s)]


def run_baseline(data: ImageSet, cfg: Config, s: TransferSettings, *, workers: int = 1,
                 device: torch.device | str = "cpu", resume: bool = True,
                 progress: bool = True, reuse: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Train and score the baseline: every size in ``s.scratch_sizes`` on each of the first
    ``s.scratch_splits`` splits of :func:`zflib.methods.transfer.table4_splits`, or the first
    ``s.scratch_curve_splits`` for a size outside ``s.table_sizes`` (Fig. 9's curve only).

    Args:
        workers: processes (one torch thread each); 1 runs here. The result is the same.
        device: where the runs train (use ``workers=1`` on a GPU).
        resume: keep each finished run under ``$ZF_HOME/cache/scratch-runs-<run key>/`` and
            reuse it.
        reuse: finished runs to take over (:func:`reusable_runs`), by split and size.

    Returns a JSON-ready dict: ``scratch`` (``n`` -> summary over splits, percent), ``runs``
    (split, n, steps, seconds, accuracy and machine of each run), ``key``, ``seconds`` (of this
    call), ``machine`` (those of the runs).
    """
    if workers < 1:
        raise ValueError(f"workers {workers} out of range 1..")
    if torch.device(device).type == "cuda":
        workers = 1  # one process trains on the GPU
    cfg = scratch_config(cfg, s)
    key = baseline_key(data, cfg, s)
    state = cache_dir() / f"scratch-runs-{run_key(data, cfg, s)}"
    splits = table4_splits(data.labels, s)[:s.scratch_splits]
    jobs = [(i, n) for n in sorted(s.scratch_sizes, reverse=True)
            for i in range(s.scratch_splits if n in s.table_sizes else s.scratch_curve_splits)]
    given = {(r["split"], r["n"]): r for r in reuse}
    done = {(i, n): given[(i, n)] if (i, n) in given else
            load_saved(f"run-{i}-{n}", state)["data"] for i, n in jobs
            if (i, n) in given or resume and (state / f"run-{i}-{n}.json").exists()}
    todo = [j for j in jobs if j not in done]
    t0 = time.perf_counter()
    args = (data, cfg, splits, s, str(device))

    machine = _machine(device, workers if len(todo) > 1 else 1)

    def keep(r: dict) -> None:
        r = {**r, "machine": machine}  # runs of several calls may come from several machines
        done[(r["split"], r["n"])] = r
        if resume:
            save_results(r, f"run-{r['split']}-{r['n']}", state, profile="scratch")
        if progress:
            print(f"scratch split {r['split']} n={r['n']}: {100 * r['accuracy']:.1f}% "
                  f"({r['steps']} steps, {r['seconds']:.0f} s) [{len(done)}/{len(jobs)}]",
                  flush=True)

    if todo and (workers == 1 or len(todo) == 1):
        threads = torch.get_num_threads()
        _init_worker(*args)
        try:
            for j in todo:
                keep(_run(j))
        finally:
            torch.set_num_threads(threads)
    elif todo:
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=args) as pool:
            for fut in as_completed([pool.submit(_run, j) for j in todo]):
                keep(fut.result())  # as each finishes: a killed job loses only running runs
    runs = [done[j] for j in jobs]
    return {"scratch": {int(n): summarize([r["accuracy"] for r in runs if r["n"] == n])
                        for n in sorted(s.scratch_sizes)},
            "runs": runs, "key": key, "epochs": s.scratch_epochs,
            "seconds": time.perf_counter() - t0, "reused_runs": len(jobs) - len(todo),
            "machine": "; ".join(sorted({r.get("machine", "not recorded") for r in runs}))}


def _machine(device: torch.device | str, workers: int) -> str:
    """:func:`zflib.training.train.machine_name`, naming the worker processes (1 thread each)."""
    device = torch.device(device)
    if device.type == "cuda" or workers == 1:
        return machine_name(device)
    return machine_name(device).rsplit(", ", 1)[0] + f", {workers} processes of 1 thread"


def artifact_path(profile: str, dataset: str = "caltech101") -> Path:
    """Where the committed baseline of ``profile`` lives (``artifacts/transfer/``)."""
    from zflib.training.artifacts import artifacts_dir

    return artifacts_dir() / "transfer" / f"{dataset}-scratch-{profile}.json"


def committed_baselines() -> list[Path]:
    """Every baseline :func:`main` wrote to ``artifacts/transfer/``, of any profile."""
    pattern = artifact_path("*", dataset="*")
    return sorted(pattern.parent.glob(pattern.name))


def load_baseline(path: str | os.PathLike) -> dict[str, Any]:
    """The baseline in ``path``: an artifact of :func:`main`, or a notebook's results JSON
    (its ``"scratch"`` part). Keys ``n`` come back as ints; ``source`` names ``path``
    relative to the repository when it lies there (a committed record never holds one
    machine's absolute path)."""
    saved = json.loads(Path(path).read_text())
    saved = saved.get("data", saved)
    out = dict(saved) if "runs" in saved else {"scratch": saved["scratch"], "seconds": 0.0,
                                                "epochs": saved.get("scratch_epochs")}
    out["scratch"] = {int(n): v for n, v in saved["scratch"].items()}
    out["source"] = repo_relative(path)
    return out


def reference_baseline(data: ImageSet, s: TransferSettings) -> dict[str, Any]:
    """The committed baseline ``s.scratch_reference`` (a file in ``artifacts/transfer/``),
    trained with another architecture (its ``model``): shown as the from-scratch reference
    when none of this architecture is committed. Its key is recomputed with its own model's
    config over the fields it records, so it is refused (``ValueError``) unless it was
    trained on these splits (settings and labels) as ``s`` draws them, or, with
    ``s.scratch_reference_dataset`` set to another copy than ``s.dataset``, on that copy's
    splits (the result's ``reference_dataset`` then names it: the same protocol on another
    random draw of the splits, which the tables say).

    Paper: Sec. 5.2, Table 4 ("Non-pretrained convnet").
    """
    from zflib.training.artifacts import artifacts_dir, load_trained

    path = artifacts_dir() / "transfer" / s.scratch_reference
    if not path.is_file():
        raise FileNotFoundError(f"scratch_reference {s.scratch_reference!r}: no file {path}")
    saved = load_baseline(path)
    fields = tuple(f for f in KEY_FIELDS if f in saved.get("settings", {}))
    cfg = load_trained(saved["model"], device="cpu").cfg
    other = s.scratch_reference_dataset not in ("", s.dataset)
    if other:  # trained on another copy's splits: check it against that copy's labels
        data = load_caltech(dataclasses.replace(s, dataset=s.scratch_reference_dataset),
                            cfg.image_size)
    if saved.get("key") != baseline_key(data, scratch_config(cfg, s), s, fields=fields):
        raise ValueError(f"scratch_reference {repo_relative(path)} was trained on other splits "
                         "or settings than these"
                         + (f" (of {s.scratch_reference_dataset})" if other else "")
                         + "; train this baseline (python -m zflib.paper.scratch) "
                         "or set scratch_results")
    return {**saved, "reference": saved["model"],
            "reference_dataset": s.scratch_reference_dataset if other else ""}


def baseline(data: ImageSet, cfg: Config, s: TransferSettings, *, profile: str,
             source: str = "auto", workers: int = 1,
             device: torch.device | str = "cpu") -> dict[str, Any] | None:
    """The baseline as notebook 10 gets it.

    ``source``: ``"auto"`` reads the committed artifact whose key matches these settings,
    architecture and labels (``profile``'s own first, then any other profile's in
    ``artifacts/transfer/``), and trains otherwise, taking over the committed runs trained
    alike (:func:`committed_runs`); ``"train"`` trains every run (resuming finished ones);
    ``"none"`` skips the baseline (returns None); anything else is a path
    (:func:`load_baseline`). With ``"auto"`` and ``s.scratch_reference`` set, a committed
    baseline of another architecture stands in instead of training
    (:func:`reference_baseline`; full224 shows the 64-pixel one).
    """
    if source == "none":
        return None
    if source == "auto":
        own = artifact_path(profile)
        key = baseline_key(data, scratch_config(cfg, s), s)
        for path in (own, *(p for p in committed_baselines() if p != own)):
            saved = load_baseline(path) if path.exists() else {}
            if saved.get("key") == key:
                return saved
        if s.scratch_reference:
            return reference_baseline(data, s)
        reuse = committed_runs(data, cfg, s)
        print(f"no committed baseline has these settings; training it here, taking over "
              f"{len(reuse)} committed runs trained alike")
    elif source != "train":
        return load_baseline(source)
    else:
        reuse = []
    out = run_baseline(data, cfg, s, workers=workers, device=device, reuse=reuse)
    return {**out, "source": "trained"}


def main(argv: list[str] | None = None) -> None:
    """``python -m zflib.paper.scratch --profile full --workers 2``: train the baseline of the
    profile and write it where :func:`baseline` finds it, taking over the runs of committed
    baselines and of the file it replaces when they were trained alike
    (:func:`committed_runs`)."""
    from zflib.config import TRANSFER_PROFILES
    from zflib.distributed import device_error
    from zflib.training.artifacts import load_trained
    from zflib.training.train import default_device

    ap = argparse.ArgumentParser(prog="python -m zflib.paper.scratch",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="full", choices=list(TRANSFER_PROFILES),
                    help="transfer profile (default: full)")
    ap.add_argument("--model", default="zfnet64",
                    help="committed artifact: its architecture (default: zfnet64)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes of one thread (default: the CPU count)")
    ap.add_argument("--device", default="", help="empty: a GPU if present (then 1 worker)")
    ap.add_argument("--out", default="", help="a .json path; default: "
                    "artifacts/transfer/...-<profile>.json")
    a = ap.parse_args(argv)
    if a.workers < 1:
        ap.error(f"--workers {a.workers} out of range 1..")
    if a.device and (bad := device_error(a.device)):
        ap.error(bad)
    if a.out and (Path(a.out).suffix != ".json" or Path(a.out).is_dir()):
        ap.error(f"--out {a.out} is not a .json file path")
    device = a.device or str(default_device())
    s = transfer_settings(a.profile)
    try:
        cfg = load_trained(a.model, device="cpu").cfg
        data = load_caltech(s, cfg.image_size)
    except (ValueError, FileNotFoundError) as err:  # a wrong model or no dataset: plainly
        ap.exit(2, f"{ap.prog}: error: {err}\n")
    path = Path(a.out) if a.out else artifact_path(a.profile)
    reuse = committed_runs(data, cfg, s, path)  # e.g. full's runs for paper, or fewer sizes
    if reuse:
        print(f"taking over {len(reuse)} finished runs of committed baselines trained alike")
    out = run_baseline(data, cfg, s, workers=a.workers, device=device, reuse=reuse)
    save_results({"model": a.model, "settings": {f: getattr(s, f) for f in KEY_FIELDS}, **out},
                 path.stem, path.parent, profile=a.profile)
    print(f"wrote {path}: " + ", ".join(f"{n}/class {v['mean']:.1f} ± {v['std']:.1f}"
                                       for n, v in out["scratch"].items()))


if __name__ == "__main__":
    main()
