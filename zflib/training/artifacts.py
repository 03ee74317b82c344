"""Committed artifacts: what figures need from runs too long to repeat for every user.

Layout under ``artifacts/`` (overridable by ``$ZF_ARTIFACTS``):

- ``<name>/model.pt``: a whole model as an fp16 state_dict with its mean image and config
  (the main ZFNet-64, which the explorer and most figures need whole);
- ``<name>/conv.pt``: conv layers only (fp16), for models whose figures show filters and
  projections (AlexNet-64, ZFNet-64 without renormalisation);
- ``<name>/epoch_<E>.pt``: conv layers at epoch E (Fig. 4);
- ``<name>/results.json``: the run's metrics (per-epoch history, 10-crop errors).

Raw checkpoints stay under ``$ZF_HOME/runs``; :func:`export_run` turns one into the above.
"""


import json
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import torch

from zflib.checkpoint import atomic_save, check_compatible, read_file
from zflib.config import Config, get_config, repo_root
from zflib.training.models import ConvNet, build_model


class Trained(NamedTuple):
    """A loaded model (eval mode), its training mean image [3, H, W] and config.

    ``complete`` is False when only the conv layers were stored (classifier untrained)."""

    model: ConvNet
    mean: torch.Tensor
    cfg: Config
    complete: bool


# Config fields that say how a model's inputs are made: its weights expect its own values
PREPROCESSING = ("image_size", "crop_size", "input_scale")


def profile_config(trained: Trained | Config, profile: str, **overrides) -> Config:
    """The config of ``profile`` (data, budgets; ``overrides`` applied) with the preprocessing
    ``trained`` was trained with (:data:`PREPROCESSING`: image and crop size, input scale;
    ``trained`` may be the model's own config, e.g. an explorer ``Subject``'s ``data_cfg``).

    Use it wherever images go into a committed model: the profile's default input scale
    (1/64) is not that of the runs trained with the paper's recipe (1.0).

    Paper: Sec. 3 (the inputs a model was trained on)."""
    own_cfg = trained if isinstance(trained, Config) else trained.cfg
    own = {k: getattr(own_cfg, k) for k in PREPROCESSING}
    clash = {k: v for k, v in overrides.items() if k in own and v != own[k]}
    if clash:
        raise ValueError(f"{clash} differs from the model's own preprocessing {own}")
    return get_config(profile, **{**overrides, **own})


def artifacts_dir() -> Path:
    return Path(os.environ.get("ZF_ARTIFACTS", repo_root() / "artifacts"))


def config_from(saved: dict) -> Config:
    """The :class:`Config` a checkpoint or artifact records (its ``config`` entry)."""
    names = {f.name for f in fields(Config)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()
              if k in names and k != "profile"}
    return get_config(saved.get("profile", "full"), **values)


def model_from_checkpoint(path: Path) -> tuple[ConvNet, dict]:
    """The model a trainer's checkpoint holds, rebuilt from its recorded architecture and
    checked against it (a checkpoint of another model is refused), and the checkpoint itself
    (read once: the weights come from this same read).

    Paper: Sec. 3 (the trained networks).
    """
    ckpt = read_file(path)
    a = ckpt["arch"]
    model = build_model(a["arch"], num_classes=a["num_classes"], size=a["size"],
                        ablation=a["ablation"])
    check_compatible(a, model, str(path))
    model.load_state_dict(ckpt["model"])
    return model, ckpt


def _fp16(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().half() if v.is_floating_point() else v.cpu()
            for k, v in state.items()}


INT8 = ("none", "linear", "all")  # which weights save_trained may store as int8


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row (filter or unit): ``(q, scale)`` with
    ``w ~= q * scale`` (``scale`` fp32 [rows], max |w| of the row / 127)."""
    flat = w.detach().float().cpu().flatten(1)
    scale = flat.abs().amax(1).clamp_min(1e-12) / 127
    return (flat / scale[:, None]).round().clamp(-127, 127).to(torch.int8).view(w.shape), scale


def dequantize_rows(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The fp32 weights of :func:`quantize_rows`."""
    return (q.float().flatten(1) * scale[:, None]).view(q.shape)


def save_trained(model: ConvNet, mean: torch.Tensor, cfg: Config, name: str, *,
                 conv_only: bool = False, epoch: int | None = None, int8: str = "none",
                 folder: str | os.PathLike | None = None) -> Path:
    """Store ``model`` as artifact ``name`` (fp16); ``conv_only`` keeps ``features`` only.

    ``int8``: ``"linear"`` stores the fully connected weights as int8 per unit
    (:func:`quantize_rows`; a 224-pixel ZFNet's fc6-fc8 are 55 of its 59 million weights),
    ``"all"`` every conv and linear weight; biases stay fp16. ``folder``: write there instead
    of ``artifacts/<name>`` (a training machine's export)."""
    from dataclasses import asdict

    if int8 not in INT8:
        raise ValueError(f"int8 {int8!r} not valid; valid: {', '.join(INT8)}")
    state = model.state_dict()
    if conv_only or epoch is not None:
        state = {k: v for k, v in state.items() if k.startswith("features.")}
    packed = {}
    if int8 != "none":
        kinds = (torch.nn.Linear,) if int8 == "linear" else (torch.nn.Linear, torch.nn.Conv2d)
        for mod_name, m in model.named_modules():
            if isinstance(m, kinds) and f"{mod_name}.weight" in state:
                packed[f"{mod_name}.weight"] = quantize_rows(state.pop(f"{mod_name}.weight"))
    fname = f"epoch_{epoch}.pt" if epoch is not None else ("conv.pt" if conv_only else "model.pt")
    path = (Path(folder) if folder else artifacts_dir() / name) / fname
    atomic_save({"model": _fp16(state), "arch": model.describe(), "config": asdict(cfg),
                 "mean": mean.float().cpu(), **({"int8": packed} if packed else {})}, path)
    return path


def _weights(ckpt: dict) -> dict[str, torch.Tensor]:
    """An artifact's weights as fp32, int8 ones (:func:`save_trained`) dequantized."""
    state = {k: v.float() for k, v in ckpt["model"].items()}
    for k, (q, scale) in ckpt.get("int8", {}).items():
        state[k] = dequantize_rows(q, scale)
    return state


def _read(path: Path) -> dict:
    """An artifact file, or a ``ValueError`` naming ``path`` and why it cannot be one."""
    ckpt = read_file(path, what="zflib artifact", advice="check it out again or re-export "
                     "it (zflib.training.artifacts.export_run)")
    absent = [k for k in ("model", "arch", "config", "mean")
              if not isinstance(ckpt, dict) or k not in ckpt]
    if absent:
        raise ValueError(f"artifact {path} is not a zflib artifact (no {', '.join(absent)}); "
                         "save it with zflib.training.artifacts.save_trained or export_run")
    return ckpt


def _check_record(ckpt: dict, cfg: Config, path: Path) -> None:
    """Refuse an artifact whose architecture record disagrees with its config or whose mean
    image is not of the config's image size."""
    diffs = [f"{k}: arch {ckpt['arch'].get(k)!r}, config {getattr(cfg, k)!r}"
             for k in ("arch", "size", "ablation", "num_classes")
             if ckpt["arch"].get(k) != getattr(cfg, k)]
    want = (3, cfg.image_size, cfg.image_size)
    if tuple(ckpt["mean"].shape) != want:
        diffs.append(f"mean image {tuple(ckpt['mean'].shape)}, config {want}")
    if diffs:
        raise ValueError(f"artifact {path} contradicts itself ({'; '.join(diffs)})")


def _check_shapes(state: dict[str, torch.Tensor], model: ConvNet, path: str) -> None:
    """Refuse weights whose shapes are not those of ``model`` (another class count, width)."""
    own = model.state_dict()
    bad = [f"{k} {tuple(v.shape)}, {model.arch} wants {tuple(own[k].shape)}"
           for k, v in state.items() if k in own and v.shape != own[k].shape]
    if bad:
        raise ValueError(f"artifact {path} does not fit its architecture "
                         f"{model.describe()}: {'; '.join(bad[:3])}")


def available_epochs(name: str = "zfnet64") -> list[int]:
    """Epochs with stored conv weights for artifact ``name`` (Fig. 4)."""
    folder = artifacts_dir() / name
    return sorted(int(m.group(1)) for p in folder.glob("epoch_*.pt")
                  if (m := re.fullmatch(r"epoch_(\d+)\.pt", p.name)))


def final_epoch(name: str) -> int | None:
    """The epoch the artifact's own weights (``model.pt`` / ``conv.pt``) were saved at: its
    run's last (``results.json``'s ``epochs``), or None when it records none."""
    path = artifacts_dir() / name / "results.json"
    epochs = json.loads(path.read_text()).get("epochs") if path.exists() else None
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def figure_epochs(name: str) -> list[int]:
    """Every epoch of ``name`` whose conv layers can be loaded (Fig. 4): the stored snapshots
    and the final epoch (:func:`final_epoch`; ZFNet-224's 14 is stored as the model itself)."""
    final = final_epoch(name)
    return sorted(set(available_epochs(name)) | ({final} if final is not None else set()))


def load_trained(name: str = "zfnet64", *, epoch: int | None = None,
                 device: torch.device | str = "cpu") -> Trained:
    """Load artifact ``name``; with ``epoch``, its conv layers are those of that epoch (a
    stored snapshot, or the final epoch: the artifact itself; :func:`figure_epochs`)."""
    folder = artifacts_dir() / name
    whole, conv = folder / "model.pt", folder / "conv.pt"
    base = whole if whole.exists() else conv
    if not base.exists():
        have = sorted(p.name for p in artifacts_dir().glob("*")
                      if (p / "model.pt").exists() or (p / "conv.pt").exists())
        raise FileNotFoundError(f"no artifact {name!r} in {artifacts_dir()} (have: "
                                f"{', '.join(have) or 'none'}); train it with "
                                "`python -m zflib.paper.runs` or check out the committed artifacts")
    ckpt = _read(base)
    cfg = config_from(ckpt["config"])
    _check_record(ckpt, cfg, base)
    arch = ckpt["arch"]
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        # drawn from the run's seed: a conv-only artifact's untrained classifier is the same
        # on every load (results computed through the model are reproducible, and cacheable)
        torch.manual_seed(cfg.seed)
        model = build_model(arch["arch"], num_classes=arch["num_classes"], size=arch["size"],
                            ablation=arch["ablation"])
    check_compatible(arch, model, str(base))
    state = _weights(ckpt)
    _check_shapes(state, model, str(base))
    if epoch is not None and epoch not in available_epochs(name) and \
            epoch == final_epoch(name):
        epoch = None  # the final epoch: the artifact's own weights
    if epoch is not None:
        if epoch not in available_epochs(name):
            raise ValueError(f"epoch {epoch} of {name!r} not stored; valid: "
                             f"{figure_epochs(name)}")
        snap = _read(folder / f"epoch_{epoch}.pt")
        check_compatible(snap["arch"], model, f"{name}/epoch_{epoch}.pt")
        snap_state = _weights(snap)
        _check_shapes(snap_state, model, str(folder / f"epoch_{epoch}.pt"))
        state.update(snap_state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(k.startswith("features.") for k in missing):
        raise ValueError(f"artifact {name!r} ({base}) does not match its architecture: missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}")
    model.eval().to(device)
    return Trained(model, ckpt["mean"].float(), cfg, complete=not missing)


def load_results(name: str, *, file: str = "results.json") -> dict:
    """``artifacts/<name>/<file>`` (a run's results) as a dict."""
    path = artifacts_dir() / name / file
    if not path.exists():
        raise FileNotFoundError(f"no results for {name!r} at {path}")
    return json.loads(path.read_text())


def export_run(run_dir: str | os.PathLike, name: str, *, whole: bool = False,
               epochs: tuple[int, ...] = ()) -> list[Path]:
    """Export run ``run_dir`` as artifact ``name``: results, and the model (``whole``) or its
    conv layers, plus the conv layers of ``epochs``."""
    run_dir = Path(run_dir)
    ckpt = _read(run_dir / "last.pt")
    cfg = config_from(ckpt["config"])
    arch = ckpt["arch"]
    model = build_model(arch["arch"], num_classes=arch["num_classes"], size=arch["size"],
                        ablation=arch["ablation"])
    model.load_state_dict(ckpt["model"])
    out = [save_trained(model, ckpt["mean"], cfg, name, conv_only=not whole)]
    for e in epochs:
        snap = run_dir / f"epoch_{e}.pt"
        if snap.exists():
            model.load_state_dict(_read(snap)["model"])
            out.append(save_trained(model, ckpt["mean"], cfg, name, epoch=e))
    results = run_dir / "results.json"
    if results.exists():
        dest = artifacts_dir() / name / "results.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(results.read_text())
        out.append(dest)
    return out
