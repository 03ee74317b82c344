"""Every setting in one place: a frozen :class:`Config` and the profiles.

Profiles override a handful of defaults (nanoGPT style):

- ``smoke``: CI; a few images per class, seconds per notebook.
- ``quick``: a CPU laptop; all figures in under 30 minutes from the committed weights.
- ``lab``: what a notebook's Run All uses when nothing is changed (``make lab``): ``quick``'s
  images, fewer where a notebook would take minutes (Figs. 4 and 7, Table 1), and Caltech-101
  transfer on the committed record's splits, so that the committed from-scratch baseline is
  read rather than trained.
- ``full224``: Fig. 3's geometry, the committed ZFNet-224.
- ``full``: Tiny ImageNet, all 200 classes, the run whose weights are committed.
- ``paper``: 224 pixels, an ImageFolder tree (ImageNet or Imagenette), the paper's recipe, a GPU.

Two training recipes are named here. ``paper`` is Sec. 3 of the paper: SGD, lr 1e-2, momentum
0.9, weights N(0, 1e-2), biases 0, inputs on the 0..255 scale minus the mean image. On the
64-pixel network it does not learn within 1,000 steps (measured; see docs/reproduction.md),
so the 64-pixel profiles use the ``adam`` recipe: Kaiming-normal weights except conv1, which
starts at the paper's N(0, 1e-2) (``first_layer_std``), biases 0, inputs scaled to unit range
(mean image subtracted, then divided by 64), AdamW at lr 2e-4. Everything else (batch 128,
dropout 0.5, filter renormalisation, lr/10 on a plateau, crops and flips) stays the paper's.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Config:
    """All settings of a run. Build with :func:`get_config`; never mutate (frozen)."""

    profile: str = "full"
    # --- data (Sec. 3: 256 stored, 224 crops; the 64-px analogue is 64 stored, 56 crops) ---
    dataset: str = "tiny-imagenet"  # tiny-imagenet | imagefolder
    data_root: str = ""  # ImageFolder root for the paper profile; Tiny ImageNet is installed
    image_size: int = 64  # stored (and mean-image) size
    crop_size: int = 56  # network input; random crops in training, 10 crops in evaluation
    num_classes: int = 200
    train_per_class: int = 0  # 0 = all available
    val_limit: int = 0  # 0 = the whole validation split
    input_scale: float = 1.0 / 64  # inputs = (x - mean image) * input_scale; paper: 1.0
    # --- model (Fig. 3) ---
    arch: str = "zfnet"  # zfnet | alexnet
    size: int = 64  # 64 | 224: which layer geometry (see zflib.training.models)
    ablation: str = "none"  # see zflib.training.models.ABLATIONS (Table 3)
    dropout: float = 0.5
    # --- optimisation (Sec. 3) ---
    optimizer: str = "adam"  # sgd (paper) | adam
    lr: float = 2e-4
    momentum: float = 0.9
    weight_decay: float = 5e-2  # AdamW (decoupled); paper profile: 5e-4 (Krizhevsky et al.)
    init: str = "kaiming"  # normal (paper: N(0, 1e-2), biases 0) | kaiming
    # > 0: conv1 weights N(0, std^2) whatever `init` (see models); 0: `init` alone
    first_layer_std: float = 1e-2
    batch_size: int = 128
    epochs: int = 20  # full profile: 20 epochs of 60,000 images (one H100: 1.2-3.7 min per run)
    max_steps: int = 0  # 0 = no cap; else stop after this many optimiser steps
    renorm: bool = True  # rescale conv filters with RMS above renorm_radius (Sec. 3)
    renorm_radius: float = 0.1
    plateau_patience: int = 2  # epochs without a better val error before lr /= 10
    plateau_threshold: float = 0.005  # an improvement smaller than this (absolute) is none
    min_lr: float = 1e-6
    # plateau: the paper's lr/10 rule above; cosine: linear warm-up over warmup_epochs, then
    # a cosine from lr to min_lr at the last step of `epochs`, set before every step
    schedule: str = "plateau"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0  # cross-entropy against (1 - eps) one-hot + eps / classes
    amp: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    # --- bookkeeping ---
    seed: int = 0
    keep_epochs: tuple[int, ...] = (1, 2, 5, 10, 20)  # checkpoints kept for Fig. 4
    checkpoint_every: int = 500  # steps between mid-epoch checkpoints (0 = epoch ends only)
    eval_batch_size: int = 256
    num_threads: int = 0  # 0 = torch's default
    # --- analyses ---
    topk: int = 9
    fig_maps_per_layer: int = 16
    fig_images: int = 0  # images mined for top-9 (0 = whole validation split)
    # validation images behind Fig. 6's numbers and layer-2 maps (0 = as fig_images); at 224
    # pixels each model's inputs take 0.6 GB per 1,000 images
    fig6_images: int = 0
    # validation images (the first n) Fig. 7 picks its examples from, mines for panel (c) and
    # measures its claim on (0 = as val_limit); at 224 pixels 0.6 GB of inputs per 1,000
    fig7_images: int = 0
    # on a CPU, Fig. 4 mines the first n training images of every class (0: the profile's
    # training split, fig_images of it); a GPU mines the split whatever this says. At 224
    # pixels each epoch's pass costs about 2.2 GFLOPs an image (all 100,000: 2 hours of 2 cores)
    fig4_per_class: int = 0
    correspondence_draws: int = 100  # random placements per part-sized box (Table 1, Fig. 8)
    # --- the figures' images (issue 34): at 224 pixels, natural-resolution images instead of
    # Tiny ImageNet's 64-pixel ones upscaled (python -m zflib.data install NAME; docs/data.md)
    # Table 1 and Fig. 8's dogs: annotation files in zflib/annotations, the first holding Table
    # 1's five dogs, all of them the analyses beyond it; each file names its dataset
    # (dog_parts_natural.json: five frontal faces of Imagewoof2's validation split, 320 px)
    dog_parts: tuple[str, ...] = ("dog_parts.json", "dog_parts_more.json")
    # Fig. 5's and Fig. 7's images: val (the profile's validation split) | examples (one
    # full-resolution ImageNet image of each class, zflib.data.natural.load_examples); Fig.
    # 7's on/off-object claim stays on the validation split, whose images have object boxes
    fig5_source: str = "val"
    fig7_source: str = "val"
    explorer_images: int = 10000  # validation images the explorer mines for its top-9
    # the sanity checks (notebook 12, zflib.methods.sanity): the first n validation images,
    # each randomisation repeated with seeds 0..sanity_seeds-1 (mean and spread over both)
    sanity_images: int = 10
    sanity_seeds: int = 3


# What a resumed run may change (how long it runs, how it is run, what is drawn from it); any
# other field decides what the run learns, and resuming a checkpoint made with another value
# is refused (zflib.training.train.Trainer.resume)
# Settings of the analyses (the figures, the explorer), which training never reads
ANALYSIS = ("topk", "fig_maps_per_layer", "fig_images", "fig4_per_class", "fig6_images",
            "fig7_images", "correspondence_draws", "dog_parts", "fig5_source", "fig7_source",
            "explorer_images", "sanity_images", "sanity_seeds")
RESUMABLE = ("profile", "data_root", "epochs", "max_steps", "keep_epochs", "checkpoint_every",
             "eval_batch_size", "num_threads", *ANALYSIS)

# The profile of the committed record: its `make figures` run writes figures/ (which RESULTS.md
# and the README show); every other profile writes build/figures/<profile>/ (zflib.paper.figures)
RECORD_PROFILE = "full"
# The committed figures: `make figures` in each of these profiles writes its folder (the
# README and RESULTS.md show them); any other profile writes build/figures/<profile>/
RECORD_FIGURES = {"full": "figures", "full224": "figures/224"}

# The committed artifacts (zflib.training.artifacts) that figures draw, by geometry (Config.size)
# and role; "" where no such artifact exists (the 224-pixel run without renormalisation trained,
# but its weights were not brought back from the GPU machine; docs/reproduction.md)
FIGURE_MODELS: dict[int, dict[str, str]] = {
    64: {"zfnet": "zfnet64", "alexnet": "alexnet64", "paper_sgd": "zfnet64-paper-sgd",
         "paper_sgd_norenorm": "zfnet64-paper-sgd-norenorm"},
    224: {"zfnet": "zfnet224", "alexnet": "alexnet224", "paper_sgd": "zfnet224-paper-sgd",
          "paper_sgd_norenorm": ""},
}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        train_per_class=2, val_limit=200, epochs=1, batch_size=16,
        keep_epochs=(1,), checkpoint_every=0, eval_batch_size=100, fig_maps_per_layer=4,
        fig_images=200, correspondence_draws=10, explorer_images=2000, sanity_images=2,
        sanity_seeds=1,
    ),
    "quick": dict(
        train_per_class=50, val_limit=2000, epochs=2, keep_epochs=(1, 2), fig_maps_per_layer=8,
        fig_images=2000, explorer_images=2000,
    ),
    # the notebooks' default (a person's Run All, `make lab`): quick's images, lighter where a
    # notebook would take minutes on 2 shared CPU cores: Fig. 4 mines 5 training images of
    # every class (1,000, as full224 on a CPU), Fig. 7 searches the first 1,000 validation
    # images, Table 1 draws 15 random regions per part (as full224; the record: 100), so that
    # its p-values come in steps of 1/15; its transfer settings (TRANSFER_PROFILES) read the
    # committed from-scratch baseline
    "lab": dict(
        train_per_class=50, val_limit=2000, epochs=2, keep_epochs=(1, 2), fig_maps_per_layer=8,
        fig_images=2000, explorer_images=2000, fig4_per_class=5, fig7_images=1000,
        correspondence_draws=15,
    ),
    # the committed runs' split: the first 300 training images of every class (the mirror's
    # copy has exactly these; with the official 500 installed, train_per_class=0 takes all)
    "full": dict(train_per_class=300),
    # Fig. 3's geometry on all of Tiny ImageNet (500 per class, `make data` from the official
    # archive, or a 500-per-class copy installed with --from): each 64-px image resized to 256
    # (bicubic, on the GPU; zflib.data.transforms.resize), random 224 crops, 10-crop testing.
    # The recipe of the committed zfnet224 run (zflib.training.train224): the 64-pixel adam recipe
    # at batch 256, lr 3e-4 warmed up over one epoch then cosine, label smoothing 0.1
    "full224": dict(
        image_size=256, crop_size=224, size=224, train_per_class=0, batch_size=256, lr=3e-4,
        schedule="cosine", warmup_epochs=1.0, label_smoothing=0.1, epochs=30,
        keep_epochs=(1, 2, 5, 10, 20, 30), checkpoint_every=0, eval_batch_size=500,
        fig4_per_class=5, fig6_images=2000, fig7_images=1000,
        # natural-resolution images (issue 34): Table 1's five dogs from Imagewoof2, Figs. 5 and
        # 7's from the examples; at 224 pixels a masked image costs 45-80 ms of CPU; 40 draws
        # give p-values in steps of 1/40, so that p < 0.05 can be reached
        dog_parts=("dog_parts_natural.json",), fig5_source="examples", fig7_source="examples",
        correspondence_draws=40,
    ),
    "paper": dict(
        dataset="imagefolder", image_size=256, crop_size=224, size=224, num_classes=1000,
        input_scale=1.0, optimizer="sgd", lr=1e-2, init="normal", first_layer_std=0.0,
        weight_decay=5e-4, epochs=70,
        keep_epochs=(1, 2, 5, 10, 20, 30, 40, 64), amp="auto",
    ),
}


# --- transfer (Sec. 5.2, Tables 4-7): the dataset-side settings, with the same profiles ---
TRANSFER_LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
# the Caltech-101 copies a transfer experiment can draw (TransferSettings.dataset)
CALTECH101_SOURCES: tuple[str, ...] = ("caltech101", "caltech101-full")


@dataclass(frozen=True)
class TransferSettings:
    """Settings of the transfer experiments (the dataset-side counterpart of ``Config``).

    Build with :func:`transfer_settings`; the profiles mirror ``zflib.config.PROFILES``.
    """

    # which Caltech-101: caltech101 (the installed copy: the 96-px mirror, or the official
    # archive when installed without one) | caltech101-full (the full-size public copy,
    # ``python -m zflib.data install caltech101-full``; zflib.data.natural.load_caltech101_full)
    dataset: str = "caltech101"
    splits: int = 5  # random train/test splits (paper: 5)
    table_sizes: tuple[int, ...] = (15, 30)  # training images per class in Table 4
    curve_sizes: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20, 25, 30)  # Fig. 9 x-axis
    test_per_class: int = 50  # paper: "test on up to 50 images per class"
    per_class_limit: int = 0  # decode only the first n images per class (0 = all)
    background: bool = True  # Caltech-101 BACKGROUND_Google as a 102nd class
    layers: tuple[str, ...] = TRANSFER_LAYERS  # Table 7 rows
    layer_size: int = 30  # training images per class in Table 7
    layer_splits: int = 0  # splits behind Table 7: the first n of `splits` (0: all of them)
    grid: int = 3  # conv maps max-pooled to grid x grid (3: conv5 -> pool5 exactly)
    scaling: str = "standard"  # standard | l2 | none
    # C chosen on one split of seed 100 (not a reported split) among 0.003..0.1 (softmax) and
    # 1e-5..1e-3 (SVM); the softmax moved < 0.6 points over its range on layers 1, 3, 5, 7
    softmax_c: float = 0.1  # scikit-learn's C for the softmax (see module notes)
    svm_c: float = 0.001  # scikit-learn's C for LinearSVC
    max_iter: int = 50  # L-BFGS iterations per classifier (30 and 100 score within 0.5 points)
    # --- the non-pretrained baseline: ZFNet-64 trained from scratch on the same splits ---
    scratch_splits: int = 5  # splits of the from-scratch baseline (<= splits)
    # splits of its sizes outside table_sizes, which only Fig. 9's curve shows (<= scratch_splits)
    scratch_curve_splits: int = 5
    scratch_sizes: tuple[int, ...] = (1, 2, 5, 10, 15, 20, 30)  # per-class sizes trained
    # passes over each training set, whatever its size (zflib.paper.scratch: why epochs, not steps);
    # (one split, one core: 15/class 23% at 25 epochs, 30% at 50, 31% at 63; 30/class 36% at
    # 25, 38% at 31, 42% at 38: still rising, so 40 is a budget, not convergence)
    scratch_epochs: float = 40.0
    scratch_batch_size: int = 128  # (all images when fewer)
    scratch_lr: float = 2e-4  # AdamW, the 64-pixel recipe's rate
    # conv1's initialisation (Config.first_layer_std) in the baseline: 0 keeps the recipe's
    # Kaiming-normal, as the committed 80-minute baseline was trained (before conv1 started at
    # N(0, 1e-2) by default); it is the only field in which it departs from the pretrained net
    scratch_first_layer_std: float = 0.0
    # a committed baseline (a file in artifacts/transfer/) to show when none trained under
    # these settings and this architecture is committed, instead of training one: full224
    # shows the 64-pixel ZFNet trained from scratch on the same splits (training ZFNet-224
    # from scratch, 20 runs at 224 px, is a GPU job); "": train it (zflib.paper.scratch.baseline)
    scratch_reference: str = ""
    # the dataset whose splits scratch_reference was trained on, when not ``dataset``'s: its
    # key is then checked against that dataset's labels, and the tables say so (full224 draws
    # its splits from caltech101-full, 9,144 images; the 64-pixel baseline was trained on the
    # 96-px mirror's 9,145: the same protocol, another random draw of the splits); "": dataset
    scratch_reference_dataset: str = ""
    seed: int = 0


TRANSFER_PROFILES: dict[str, dict[str, Any]] = {
    # CI: 5 images per class, 1 split, a 2-epoch from-scratch run; under a minute.
    "smoke": dict(splits=1, table_sizes=(1, 2), curve_sizes=(1, 2), test_per_class=3,
                  per_class_limit=5, layer_size=2, scratch_splits=1, scratch_curve_splits=1,
                  scratch_sizes=(2,),
                  scratch_epochs=2, scratch_batch_size=32, max_iter=20),
    # A CPU laptop, minutes: 2 splits, fewer curve points; the from-scratch baseline on 1
    # split at 15 and 30 per class for 3 epochs (about 3 minutes; near chance).
    "quick": dict(splits=2, curve_sizes=(1, 2, 5, 10, 15, 30), scratch_splits=1,
                  scratch_curve_splits=1, scratch_sizes=(15, 30), scratch_epochs=3,
                  scratch_batch_size=64, max_iter=30),
    # A person's Run All (the notebooks' default): full's splits, sizes and from-scratch
    # settings, so that notebook 10 reads the committed baseline (artifacts/transfer/, 80
    # minutes of training) instead of training quick's near-chance one (2.5 minutes); 30
    # L-BFGS iterations per classifier as quick (full: 50; the two score within 0.5 points);
    # Table 7 on the first 2 splits, as quick (its 70 fits on 5 took 3.5 minutes of one core)
    "lab": dict(scratch_curve_splits=2, max_iter=30, layer_splits=2),
    # Everything on 5 splits, but the from-scratch curve: 40 epochs at each of Fig. 9's sizes,
    # Table 4's 15 and 30 per class on 5 splits, the others on 2 (20 runs; about 2 hours on
    # two CPU cores at their usual speed): committed in artifacts/transfer/ by
    # ``python -m zflib.paper.scratch --profile full``, so notebook 10 does not retrain it.
    "full": dict(scratch_curve_splits=2),
    # full's settings on ZFNet-224, on Caltech-101 at its full size decoded at 256 px (issue
    # 34); the from-scratch baseline is full's committed 64-pixel one (scratch_reference),
    # trained on the 96-px mirror's splits (training ZFNet-224 from scratch is a GPU job)
    "full224": dict(dataset="caltech101-full", scratch_curve_splits=2,
                    scratch_reference="caltech101-scratch-full.json",
                    scratch_reference_dataset="caltech101"),
    # The whole curve on 5 splits: 35 runs of 40 epochs (``python -m zflib.paper.scratch --profile
    # paper`` takes over full's 20 and trains 15 more: a GPU job, or about 40 minutes of two
    # CPU cores at their usual speed).
    "paper": dict(),
}


def transfer_settings(profile: str = "full", **overrides: Any) -> TransferSettings:
    """The :class:`TransferSettings` of ``profile`` with ``overrides``; unknown keys raise."""
    if profile not in TRANSFER_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(TRANSFER_PROFILES)}")
    names = {f.name for f in dataclasses.fields(TransferSettings)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown transfer setting(s) {bad}; valid: {', '.join(sorted(names))}")
    s = dataclasses.replace(TransferSettings(), **{**TRANSFER_PROFILES[profile], **overrides})
    for field in ("dataset", "scratch_reference_dataset"):
        value = getattr(s, field)
        if value not in CALTECH101_SOURCES and (value or field == "dataset"):
            raise ValueError(f"{field} {value!r} not valid; valid: "
                             f"{', '.join(CALTECH101_SOURCES)}")
    if s.scaling not in ("standard", "l2", "none"):
        raise ValueError(f"scaling {s.scaling!r} not valid; valid: standard, l2, none")
    if not 0 <= s.layer_splits <= s.splits:
        raise ValueError(f"layer_splits {s.layer_splits} out of range 0..{s.splits} (0: all)")
    if not 1 <= s.scratch_splits <= s.splits:
        raise ValueError(f"scratch_splits {s.scratch_splits} out of range 1..{s.splits}")
    if not 1 <= s.scratch_curve_splits <= s.scratch_splits:
        raise ValueError(f"scratch_curve_splits {s.scratch_curve_splits} out of range "
                         f"1..{s.scratch_splits} (scratch_splits)")
    if not s.scratch_epochs > 0:
        raise ValueError(f"scratch_epochs {s.scratch_epochs} out of range: must be > 0")
    for size in (*s.table_sizes, *s.curve_sizes, *s.scratch_sizes, s.layer_size):
        if size < 1:
            raise ValueError(f"training images per class {size} out of range 1..")
    return s


def _type_name(hint: Any) -> str:
    """How an error names a field's type: ``int``, ``a tuple of int``."""
    if typing.get_origin(hint) is tuple:
        return f"a tuple of {_type_name(typing.get_args(hint)[0])}"
    return hint.__name__


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` may be given for a field typed ``hint`` (an int for a float; a list
    for a tuple; never a bool for an int, nor an int for a bool)."""
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]
        return isinstance(value, (tuple, list)) and all(
            _fits(v, typing.get_args(hint)[0]) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    # bool is a subclass of int: True is not an epoch count, nor 1 a switch
    return isinstance(value, hint) and isinstance(value, bool) == (hint is bool)


def get_config(profile: str | None = None, /, **overrides: Any) -> Config:
    """Return the config of ``profile`` (default ``full``) with ``overrides`` applied.

    Raises ``ValueError`` for an unknown profile or key (``profile`` is no override:
    ``get_config("smoke", profile="full")`` is refused), ``TypeError`` for a value of the
    wrong type.
    """
    if "profile" in overrides:
        if profile is not None:
            other = overrides["profile"]
            raise ValueError(f"config key 'profile' is not an override (got profile={other!r} "
                             f"besides profile {profile!r}); give the profile as "
                             f"get_config's first argument: get_config({other!r}, ...), or "
                             f"--profile {other} on the command line")
        profile = overrides.pop("profile")  # get_config(profile="smoke")
    if profile is None:
        profile = "full"
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    types = {k: t for k, t in typing.get_type_hints(Config).items() if k != "profile"}
    values = {**PROFILES[profile], **overrides}
    for key, value in overrides.items():
        if key not in types:
            raise ValueError(f"unknown config key {key!r}; valid: {', '.join(sorted(types))}")
        hint = types[key]
        if not _fits(value, hint):
            got = "" if typing.get_origin(hint) is tuple else f" ({type(value).__name__})"
            raise TypeError(f"config key {key!r} wants {_type_name(hint)}, got {value!r}{got}")
        if typing.get_origin(hint) is tuple:
            values[key] = tuple(value)
        elif hint is float:
            values[key] = float(value)
    return dataclasses.replace(Config(), profile=profile, **values)


def figure_model(profile: str, role: str = "zfnet") -> str:
    """The committed artifact that ``profile``'s figures use for ``role`` (``zfnet``,
    ``alexnet``, ``paper_sgd``, ``paper_sgd_norenorm``): ``zfnet64`` in the 64-pixel
    profiles, ``zfnet224`` in ``full224`` and ``paper`` (:data:`FIGURE_MODELS`); "" when that
    geometry has none for the role."""
    size = get_config(profile).size
    if role not in FIGURE_MODELS[size]:
        raise ValueError(f"unknown role {role!r}; valid: {', '.join(FIGURE_MODELS[size])}")
    return FIGURE_MODELS[size][role]


def zf_home() -> Path:
    """Cache root for datasets, decoded arrays and checkpoints: ``$ZF_HOME`` or
    ``~/.cache/zflib``. Kept outside the work tree so that it survives a fresh checkout."""
    return Path(os.environ.get("ZF_HOME", Path.home() / ".cache" / "zflib"))


def repo_root() -> Path:
    """The project root (where ``artifacts/`` and ``figures/`` live)."""
    return Path(__file__).resolve().parent.parent


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` as committed records hold it: relative to :func:`repo_root` (POSIX
    separators) when it lies inside the repository, else unchanged."""
    try:
        return Path(path).resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return str(path)


__all__ = ["Config", "PROFILES", "RECORD_PROFILE", "RECORD_FIGURES", "FIGURE_MODELS",
           "figure_model", "ANALYSIS", "RESUMABLE", "get_config",
           "zf_home", "repo_root", "repo_relative",
           "TransferSettings",
           "TRANSFER_PROFILES", "TRANSFER_LAYERS", "CALTECH101_SOURCES", "transfer_settings"]
