"""Issue 33's GPU session in one prepared script: ZFNet-224 and AlexNet-224 trained on the
219-class natural-resolution set (:mod:`zflib.data.combined`) on a machine that takes at most
64 MiB per transfer in and gives back at most 16 MiB a file (8 files, 64 MiB a call).

Here, on the CPU (minutes)::

    python -m zflib.training.gpu_run pack .gpu/shards            # JPEG shards <= 60 MiB
    python -m zflib.training.gpu_run plan .gpu/shards            # the calls, their sizes

On the GPU machine, one ``run`` call per shard (each carries ``.gpu/shards/manifest.json``
and one or more shards), all with the same command; the call that completes the data trains::

    python3 -m zflib.training.gpu_run device --take .gpu/shards --minutes 8.5 --out $OUT

and then, once training has finished, the calls that bring the weights back (the same command
with ``--export-part 0``, ``1``, ...; each writes up to four 15.5 MiB chunks and
``bundle.json`` into ``$OUT``). Back here::

    python -m zflib.training.gpu_run assemble <the calls' output folders> --to build/gpu-export

What ``device`` does, every call, each step only when its input is there and its output is
not (so any call may be repeated, and a cut call resumes where it stopped):

1. **take**: the shards carried in (``--take``) are checked against the manifest (SHA-256)
   and moved into the store (``--store``, default ``/root/zf-gpu``: outside the working
   tree, which each call replaces; gone when the machine is given back); it prints which
   shards are still missing;
2. **train** (all shards there): decodes them onto the GPU (uint8, 256 x 256; Tiny ImageNet's
   64-pixel images upscaled there by bicubic interpolation), checks over a few steps that
   a step never waits for the device (``torch.cuda.set_sync_debug_mode``), then trains each
   run of ``--runs`` in turn with :class:`zflib.training.resident.ResidentTrainer` (bf16,
   channels-last, band LRN, ``--compile``), checkpointing into the store at every epoch end
   (0.7 GB with AdamW's state: a save a step would cost more than it saves) and when
   ``--minutes`` have passed; a later call resumes it from its checkpoint;
3. **export** (a run finished): its artifact files (:func:`zflib.training.artifacts.save_trained`:
   ZFNet-224 whole, fc layers int8; the others' conv layers), ``results.json`` with the
   10-crop errors on each source's validation images, ``metrics.jsonl`` and the log, as one
   tar file cut into 15.5 MiB chunks with their SHA-256 (``bundle.json``);
4. ``--export-part K`` copies chunks ``4K .. 4K+3`` and ``bundle.json`` into ``--out``.

``assemble`` checks every chunk's and the whole's SHA-256 and unpacks the tar.

Paper: Sec. 3 (training), Fig. 3, Table 2, Fig. 6 (first layers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zflib.config import Config, get_config
from zflib.data.shards import MANIFEST, check_shards, read_manifest, read_shards
from zflib.training.artifacts import config_from, model_from_checkpoint, save_trained
from zflib.training.evaluate import evaluate
from zflib.training.resident import ResidentTrainer
from zflib.training.train import check_config, default_device, machine_name

STORE = Path(os.environ.get("ZF_GPU_STORE", "/root/zf-gpu"))
CHUNK_MIB = 15.5  # each file back: at most 16 MiB
CHUNKS_PER_CALL = 4  # 62 MiB of the 64 a call gives back
PART_MIB = 60.0  # each shard: 64 MiB a call, less the working tree's few MiB

# conv1's initial scale in the issue-33 recipe: 100 times below the 64-pixel recipe's 1e-2,
# so that what conv1 learns outweighs what it starts with (zflib.paper.first_layer measures
# it on the CPU); every other setting is the full224 profile's
FIRST_LAYER_STD = 1e-4


@dataclass(frozen=True)
class GpuRun:
    """One run: config overrides on ``full224`` and what is exported (as in
    :mod:`zflib.training.train224`)."""

    overrides: dict[str, Any] = field(default_factory=dict)
    export: str = "conv"  # whole | conv
    int8: str = "none"
    snapshots: bool = False  # the conv layers of cfg.keep_epochs' epochs (Fig. 4), int8


RUNS: dict[str, GpuRun] = {
    "zfnet224": GpuRun({}, export="whole", int8="linear", snapshots=True),
    "alexnet224": GpuRun({"arch": "alexnet"}),
    # the control: conv1 at the 64-pixel recipe's N(0, 1e-2), as the committed zfnet224
    "zfnet224-std1e-2": GpuRun({"first_layer_std": 1e-2}, int8="all"),
}


def run_config(name: str, *, classes: int, epochs: int, **overrides: Any) -> Config:
    """``name``'s config: ``full224`` on ``classes`` classes for ``epochs`` epochs, conv1 at
    :data:`FIRST_LAYER_STD`, the run's overrides and ``overrides`` on top."""
    if name not in RUNS:
        raise ValueError(f"unknown run {name!r}; valid: {', '.join(RUNS)}")
    keep = tuple(e for e in (1, 2, 5, 10) if e < epochs) + (epochs,)
    cfg = get_config("full224", **{"num_classes": classes, "epochs": epochs,
                                   "keep_epochs": keep, "first_layer_std": FIRST_LAYER_STD,
                                   **RUNS[name].overrides, **overrides})
    check_config(cfg)
    return cfg


# --- the steps on the device machine ----------------------------------------------------------
def take(src: Path, store: Path, log=print) -> list[str]:
    """Move the shards under ``src`` that the manifest lists (and that check out) into
    ``store/shards``; returns the shards still missing there."""
    dest = store / "shards"
    dest.mkdir(parents=True, exist_ok=True)
    if (src / MANIFEST).is_file():
        shutil.copyfile(src / MANIFEST, dest / MANIFEST)
    if not (dest / MANIFEST).is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {src} or {dest}: carry it with the shards")
    rows = {r["file"]: r for r in read_manifest(dest)["shards"]}
    for p in sorted(src.glob("shard-*.npz")) if src.is_dir() else []:
        row = rows.get(p.name)
        if row is None:
            log(f"take: {p.name} is not in the manifest; left")
            continue
        if (dest / p.name).is_file() and not check_shards_one(dest / p.name, row):
            continue  # there already
        if check_shards_one(p, row):
            log(f"take: {p.name} is damaged (size or SHA-256 differ); left")
            continue
        shutil.move(str(p), dest / p.name)
        log(f"take: {p.name} ({row['bytes'] / 2 ** 20:.1f} MiB, {row['images']} images)")
    return check_shards(dest, digests=False)


def check_shards_one(path: Path, row: dict) -> list[str]:
    """[] when ``path`` has the manifest row's size and SHA-256, else why not."""
    if path.stat().st_size != row["bytes"]:
        return ["size"]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return [] if h.hexdigest() == row["sha256"] else ["sha256"]


def matmul_tflops(device: torch.device, n: int = 8192, reps: int = 10) -> float:
    """bf16 n x n x n matmul TFLOP/s on ``device`` (mean of ``reps`` after 3 warm-ups)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e12


def step_flops(t: ResidentTrainer) -> float:
    """PyTorch's FLOP count of one training step of ``t``, per image (state restored)."""
    from torch.utils.flop_counter import FlopCounterMode

    state = {k: v.clone() for k, v in t.model.state_dict().items()}
    opt = t.opt.state_dict()
    x, y = t.batch(0, 0)
    with FlopCounterMode(display=False) as fc:
        t.train_step(x, y)
    t.model.load_state_dict(state)
    t.opt.load_state_dict(opt)
    return fc.get_total_flops() / len(y)


def sync_check(t: ResidentTrainer, log=print) -> bool:
    """Two steps under ``torch.cuda.set_sync_debug_mode("error")`` after two of warm-up:
    True when none waited for the device (the trainer's state is restored afterwards)."""
    state = {k: v.clone() for k, v in t.model.state_dict().items()}
    opt = t.opt.state_dict()
    opt = {"state": {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()}
                     for k, s in opt["state"].items()}, "param_groups": opt["param_groups"]}
    ok = True
    try:
        for s in range(2):
            t.train_step(*t.batch(0, s))
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        for s in range(2, 4):
            t.train_step(*t.batch(0, s))
    except RuntimeError as err:
        ok = False
        log(f"sync check: a step waited for the device: {err}")
    finally:
        torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
        t.model.load_state_dict(state)
        t.opt.load_state_dict(opt)
    return ok


def source_errors(model: torch.nn.Module, val, sources: torch.Tensor, names: list[str],
                  mean: torch.Tensor, cfg: Config, device: torch.device) -> dict[str, float]:
    """10-crop top-1/top-5 error on each source's validation images."""
    out = {}
    for i, name in enumerate(names):
        pick = (sources == i).nonzero().flatten()
        if len(pick):
            e = evaluate(model, val.images[pick], val.labels[pick], mean, cfg, ten_crop=True,
                         device=device, batch_size=cfg.eval_batch_size)
            out |= {f"val_top1_err_10crop_{name}": e["top1_err"],
                    f"val_top5_err_10crop_{name}": e["top5_err"],
                    f"val_images_{name}": len(pick)}
    return out


def export_run(name: str, folder: Path, dest: Path, extra: dict[str, Any]) -> list[Path]:
    """The artifact files of finished run ``name`` (its folder ``folder``) under ``dest``."""
    run = RUNS[name]
    model, ckpt = model_from_checkpoint(folder / "last.pt")
    cfg = config_from(ckpt["config"])
    dest.mkdir(parents=True, exist_ok=True)
    written = [save_trained(model, ckpt["mean"], cfg, name, folder=dest,
                            conv_only=run.export == "conv", int8=run.int8)]
    if run.snapshots:
        for e in cfg.keep_epochs[:-1]:
            if (folder / f"epoch_{e}.pt").exists():
                m, _ = model_from_checkpoint(folder / f"epoch_{e}.pt")
                written.append(save_trained(m, ckpt["mean"], cfg, name, folder=dest, epoch=e,
                                            int8="all"))
    results = json.loads((folder / "results.json").read_text()) | extra
    (dest / "results.json").write_text(json.dumps(results, indent=1))
    written.append(dest / "results.json")
    if (folder / "metrics.jsonl").exists():
        shutil.copyfile(folder / "metrics.jsonl", dest / "metrics.jsonl")
        written.append(dest / "metrics.jsonl")
    return written


def bundle(folder: Path, out: Path, *, chunk_mib: float | None = None) -> dict:
    """``folder`` as one tar cut into ``out/bundle.tar.NNN`` chunks of ``chunk_mib`` MiB
    (default :data:`CHUNK_MIB`) and ``out/bundle.json`` (the chunks' and the whole's sizes and
    SHA-256)."""
    chunk_mib = chunk_mib or CHUNK_MIB
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("bundle.tar.*"):
        old.unlink()
    tar = out / "bundle.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(folder, arcname=".")
    size, chunk = tar.stat().st_size, int(chunk_mib * 2 ** 20)
    whole, rows = hashlib.sha256(), []
    with open(tar, "rb") as f:
        for i in range(math.ceil(size / chunk)):
            data = f.read(chunk)
            whole.update(data)
            (out / f"bundle.tar.{i:03d}").write_bytes(data)
            rows.append({"file": f"bundle.tar.{i:03d}", "bytes": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()})
    tar.unlink()
    info = {"bytes": size, "sha256": whole.hexdigest(), "chunks": rows,
            "calls": math.ceil(len(rows) / CHUNKS_PER_CALL)}
    (out / "bundle.json").write_text(json.dumps(info, indent=1))
    return info


def export_part(store: Path, part: int, out: Path) -> list[Path]:
    """Chunks ``part * 4 .. part * 4 + 3`` of the bundle and ``bundle.json`` into ``out``."""
    src = store / "bundle"
    if not (src / "bundle.json").is_file():
        raise FileNotFoundError(f"no bundle in {src}: training has not finished")
    info = json.loads((src / "bundle.json").read_text())
    rows = info["chunks"][part * CHUNKS_PER_CALL:(part + 1) * CHUNKS_PER_CALL]
    if not rows:
        raise ValueError(f"export part {part} out of range 0..{info['calls'] - 1}")
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        shutil.copyfile(src / r["file"], out / r["file"])
    shutil.copyfile(src / "bundle.json", out / "bundle.json")
    return [out / r["file"] for r in rows] + [out / "bundle.json"]


def assemble(folders: list[Path], dest: Path) -> list[Path]:
    """Join the chunks found in ``folders`` (each a call's output), check them against
    ``bundle.json`` and unpack the tar into ``dest``; returns the files unpacked.

    Raises ``FileNotFoundError`` naming the chunks missing, ``ValueError`` for a damaged one."""
    infos = [json.loads((f / "bundle.json").read_text()) for f in folders
             if (f / "bundle.json").is_file()]
    if not infos:
        raise FileNotFoundError(f"no bundle.json in {', '.join(map(str, folders))}")
    info = infos[0]
    if any(i["sha256"] != info["sha256"] for i in infos):
        raise ValueError("the folders hold chunks of different bundles (a rerun's export?)")
    found = {p.name: p for f in folders for p in f.glob("bundle.tar.*")}
    missing = [r["file"] for r in info["chunks"] if r["file"] not in found]
    if missing:
        parts = sorted({int(m[-3:]) // CHUNKS_PER_CALL for m in missing})
        raise FileNotFoundError(f"{len(missing)} chunk(s) missing: {', '.join(missing)} "
                                f"(export parts {parts})")
    dest.mkdir(parents=True, exist_ok=True)
    tar, whole = dest / ".bundle.tar", hashlib.sha256()
    with open(tar, "wb") as f:
        for r in info["chunks"]:
            data = found[r["file"]].read_bytes()
            if hashlib.sha256(data).hexdigest() != r["sha256"]:
                raise ValueError(f"{found[r['file']]} is damaged (SHA-256 differs)")
            whole.update(data)
            f.write(data)
    try:
        if whole.hexdigest() != info["sha256"]:
            raise ValueError("the joined bundle's SHA-256 differs from bundle.json's")
        with tarfile.open(tar) as tf:
            tf.extractall(dest, filter="data")
            names = [m.name for m in tf.getmembers() if m.isfile()]
    finally:
        tar.unlink(missing_ok=True)
    return [dest / n for n in names]


def device(args: argparse.Namespace, log=print) -> int:
    """The steps of the module notes, as far as the data and ``--minutes`` allow."""
    store = Path(args.store)
    start = time.time()
    missing = take(Path(args.take), store, log) if args.take else check_shards(
        store / "shards", digests=False)
    manifest = read_manifest(store / "shards")
    if missing:
        log(f"data: {len(manifest['shards']) - len(missing)} of {len(manifest['shards'])} "
            f"shards here; still to come: {', '.join(missing)}")
        return 0
    names = [n for n in args.runs.split(",") if n]
    runs_dir, export_dir = store / "runs", store / "export"
    done = [n for n in names if (export_dir / n / "results.json").is_file()]
    todo = [n for n in names if n not in done]
    dev = torch.device(args.device) if args.device else default_device()
    if todo and not args.no_train:
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        t0 = time.time()
        data = read_shards(store / "shards", device=dev if dev.type == "cuda" else "cpu",
                           workers=args.workers)
        (train, _), (val, val_src) = data["train"], data["val"]
        log(f"data: {len(train):,} training and {len(val):,} validation images of "
            f"{len(train.classes)} classes at {train.images.shape[1]} px on {dev} in "
            f"{time.time() - t0:.0f} s")
        deadline = start + args.minutes * 60 if args.minutes else None
        for name in todo:
            cfg = run_config(name, classes=len(train.classes), epochs=args.epochs,
                             **args.overrides)
            folder = runs_dir / name
            t = ResidentTrainer(cfg, folder, device=dev, train=train, val=val, progress=False,
                                compile=args.compile)
            resumed = t.resume()
            if dev.type == "cuda" and not resumed:
                log(f"{name}: sync check {'passed' if sync_check(t, log) else 'FAILED'}")
            flops = step_flops(t) if dev.type == "cuda" else 0.0
            log(f"{name}: {'resuming at epoch ' + str(t.epoch) if resumed else 'starting'}, "
                f"{cfg.epochs} epochs of {t.steps_per_epoch} steps, conv1 N(0, "
                f"{cfg.first_layer_std:g}^2){', compiled' if args.compile else ''}")
            t0 = time.time()
            res = t.fit(deadline=deadline)
            for row in t.history:
                log(f"  {name} epoch {row['epoch']}: train err {row['train_top1_err']:.3f}, "
                    f"val err {row['val_top1_err']:.3f} (centre), lr {row['lr']:.1e}, "
                    f"{row['images_per_s']:,.0f} img/s")
            if res["epochs"] < cfg.epochs and not (cfg.max_steps and
                                                   t.global_step >= cfg.max_steps):
                log(f"{name}: stopped at epoch {res['epochs']} of {cfg.epochs} "
                    f"(--minutes); the next call resumes it")
                break
            extra = source_errors(t.model, val, val_src, manifest["sources"], t.mean, cfg, dev)
            extra |= {"machine": machine_name(dev), "compile": args.compile,
                      "wall_seconds": time.time() - t0, "shards": manifest["bytes"]}
            if dev.type == "cuda":  # the loop's speed beside a bf16 matmul, this machine
                ips = max(row["images_per_s"] for row in t.history)
                mm = matmul_tflops(dev)
                extra |= {"images_per_s_loop": ips, "gflop_per_train_image": flops / 1e9,
                          "tflops_loop": ips * flops / 1e12, "matmul_bf16_tflops": mm,
                          "fraction_of_matmul_loop": ips * flops / 1e12 / mm}
                log(f"{name}: loop {ips:,.0f} images/s (best epoch), {ips * flops / 1e12:.1f} "
                    f"TFLOP/s, {ips * flops / 1e12 / mm:.1%} of a bf16 matmul's {mm:.0f}")
            export_run(name, folder, export_dir / name, extra)
            log(f"{name}: 10-crop top-1 err {res['val_top1_err_10crop']:.4f}, " + ", ".join(
                f"{k[len('val_top1_err_10crop_'):]} {v:.4f}" for k, v in extra.items()
                if k.startswith("val_top1_err_10crop_")) + f"; {res['train_seconds'] / 60:.1f}"
                f" min of training, exported")
            done.append(name)
            del t
    if done and set(done) >= set(names):
        if not (store / "bundle" / "bundle.json").is_file():
            if (store / "device.log").is_file():
                shutil.copyfile(store / "device.log", export_dir / "device.log")
            info = bundle(export_dir, store / "bundle")
            log(f"export: {info['bytes'] / 2 ** 20:.1f} MiB in {len(info['chunks'])} chunks, "
                f"{info['calls']} call(s): --export-part 0..{info['calls'] - 1}")
        if args.export_part is not None:
            try:
                written = export_part(store, args.export_part, Path(args.out))
            except ValueError as err:
                log(f"export: {err}")
                return 2
            for p in written:
                log(f"export: {p.name} ({p.stat().st_size / 2 ** 20:.1f} MiB) -> {args.out}")
    else:
        log(f"runs done: {', '.join(done) or 'none'}; to do: "
            f"{', '.join(n for n in names if n not in done)}")
    return 0


# --- the CPU side: the shards and the plan of calls ---------------------------------------------
def pack_combined(out: Path, *, quality: int = 90, part_mib: float = PART_MIB,
                  per_class: int = 0, natural_val: bool = True, workers: int = 2,
                  roots: dict[str, str] | None = None, log=print) -> list[Path]:
    """The 219-class set of :mod:`zflib.data.combined` as shards in ``out``: Tiny ImageNet's
    own 64-pixel JPEG files, Imagewoof2's and Imagenette2's images decoded at 256 (shorter
    side, centre square; through the uint8 cache) and encoded at ``quality``; the training
    images first (Tiny ImageNet, Imagewoof2, Imagenette2), then the validation images.

    ``per_class``: the first n images of every class of every source (0 = all);
    ``natural_val``: False leaves Imagewoof2's and Imagenette2's validation images out (they
    are then evaluated here from the weights brought back); ``roots``: a folder per natural
    source instead of the installed copy (fastai's layout)."""
    from zflib.data import per_class_subset
    from zflib.data.combined import SOURCES, combined_classes
    from zflib.data.install import dataset_root
    from zflib.data.natural import load_natural_split
    from zflib.data.shards import array_entries, file_entries, pack_shards
    from zflib.data.tiny import _names, list_split

    roots = roots or {}
    tiny_root = dataset_root("tiny-imagenet")
    natural = {}
    for split in ("train", "val"):
        for src in SOURCES[1:]:
            if split == "val" and not natural_val:
                continue
            root = roots.get(src)
            natural[src, split] = load_natural_split(src, split, 256, root=root,
                                                     per_class_limit=per_class)
            log(f"pack: {src} {split}: {len(natural[src, split]):,} images at 256")
    tiny_classes = list_split(tiny_root, "train")[0]
    first = {src: natural[src, "train"] for src in SOURCES[1:]}
    classes, maps = combined_classes({"tiny-imagenet": tiny_classes,
                                      **{k: d.classes for k, d in first.items()}})
    names = [""] * len(classes)
    for i, n in zip(maps["tiny-imagenet"].tolist(), _names(tiny_root, tiny_classes),
                    strict=True):
        names[i] = n
    for k, d in first.items():
        for i, n in zip(maps[k].tolist(), d.names, strict=True):
            names[i] = names[i] or n

    def entries():
        for split in ("train", "val"):
            _, paths, labels = list_split(tiny_root, split)
            lab = torch.tensor(labels)
            keep = per_class_subset(lab, per_class).tolist()
            yield from file_entries([paths[i] for i in keep], maps["tiny-imagenet"][lab[keep]]
                                    .tolist(), split=split, source="tiny-imagenet",
                                    root=tiny_root)
            for src in SOURCES[1:]:
                if (src, split) in natural:
                    d = natural[src, split]
                    yield from array_entries(d, maps[src][d.labels], split=split, source=src,
                                             quality=quality, workers=workers)

    return pack_shards(entries(), out, classes=classes, names=names, sources=list(SOURCES),
                       size=256, quality=quality, part_mib=part_mib)


def travelling_bytes(root: Path) -> int:
    """Bytes of what a device call sends of the checkout at ``root``: the files git tracks or
    would track (not ignored) that are on disk, and ``shared/``."""
    import subprocess

    out = subprocess.run(["git", "-C", str(root), "ls-files", "-c", "-o", "--exclude-standard",
                          "-z"], capture_output=True, check=True).stdout.decode()
    total = sum(os.path.getsize(root / f) for f in out.split("\0")
                if f and os.path.isfile(root / f))
    shared = root / "shared"
    if shared.is_dir():
        total += sum(p.stat().st_size for p in shared.rglob("*") if p.is_file())
    return total


def plan_calls(shards: Path, *, tree_bytes: int, limit_mib: float = 64.0) -> list[list[str]]:
    """The shards grouped into calls: each call's shards, manifest and the working tree
    within ``limit_mib``, in the manifest's order."""
    manifest = read_manifest(shards)
    room = limit_mib * 2 ** 20 - tree_bytes - (shards / MANIFEST).stat().st_size
    calls: list[list[str]] = [[]]
    used = 0
    for r in manifest["shards"]:
        if r["bytes"] > room:
            raise ValueError(f"{r['file']} ({r['bytes'] / 2 ** 20:.1f} MiB) does not fit a call "
                             f"beside a working tree of {tree_bytes / 2 ** 20:.1f} MiB")
        if used + r["bytes"] > room:
            calls.append([])
            used = 0
        calls[-1].append(r["file"])
        used += r["bytes"]
    return calls


def plan_main(args: argparse.Namespace) -> int:
    """Print the device calls for the shards in ``args.shards`` and lay each call's carry
    folder (hard links) under ``<shards>/calls/NN``."""
    shards = Path(args.shards)
    manifest = read_manifest(shards)
    root = Path.cwd()
    if (root / ".git").exists():
        import subprocess

        ignored = subprocess.run(["git", "check-ignore", "-q", str(shards)], cwd=root).returncode
        if ignored != 0:
            print(f"{shards} is not ignored by git: every call would send all of it. Add its "
                  "folder to .git/info/exclude first (echo /.gpu/ >> .git/info/exclude)")
            return 2
    tree = travelling_bytes(root) if (root / ".git").exists() else 0
    if args.tree_mib is not None:
        tree = int(args.tree_mib * 2 ** 20)
    elif tree > 32 * 2 ** 20:
        lean = sum(f.stat().st_size for f in (root / "zflib").rglob("*") if f.is_file()
                   and "__pycache__" not in f.parts) + (root / "pyproject.toml").stat().st_size
        print(f"the working tree here would send {tree / 2 ** 20:.0f} MiB a call, more than "
              f"the 64 MiB a call takes: the calls need a checkout with zflib/ alone on disk "
              f"({lean / 2 ** 20:.1f} MiB; docs/reproduction.md, 'Issue 33 on a GPU'); planned "
              "for that")
        tree = lean
    calls = plan_calls(shards, tree_bytes=tree)
    print(f"data: {manifest['images']['train']:,} training and {manifest['images']['val']:,} "
          f"validation images, {len(manifest['classes'])} classes, {len(manifest['shards'])} "
          f"shards, {manifest['bytes'] / 2 ** 20:.0f} MiB; the working tree beside them: "
          f"{tree / 2 ** 20:.1f} MiB; {len(calls)} data call(s)")
    rel = os.path.relpath(shards, root)
    for i, files in enumerate(calls):
        folder = shards / "calls" / f"{i:02d}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for f in [MANIFEST, *files]:
            os.link(shards / f, folder / f)
        size = sum((shards / f).stat().st_size for f in files) / 2 ** 20
        last = i == len(calls) - 1
        print(f"call {i + 1}: carry ['{rel}/calls/{i:02d}'] ({size:.1f} MiB: {', '.join(files)}):"
              f" python3 -m zflib.training.gpu_run device --take {rel}/calls/{i:02d}"
              + (" --minutes 8.5 --compile" if last else " --no-train"))
    print("then, per export part K = 0, 1, ...: python3 -m zflib.training.gpu_run device "
          "--no-train --export-part K --out $OUT")
    return 0


def pack_main(args: argparse.Namespace) -> int:
    paths = pack_combined(Path(args.shards), quality=args.quality, part_mib=args.part_mib,
                          per_class=args.per_class, natural_val=not args.no_natural_val,
                          workers=args.workers,
                          roots={k: v for k, v in (("imagewoof2", args.imagewoof),
                                                   ("imagenette2", args.imagenette)) if v})
    m = read_manifest(args.shards)
    print(f"{len(paths)} shards, {m['bytes'] / 2 ** 20:.1f} MiB: {m['images']['train']:,} "
          f"training and {m['images']['val']:,} validation images of {len(m['classes'])} "
          "classes")
    return 0


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set wants KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.training.gpu_run",
                                description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("device", help="on the GPU machine: take, train, export (see notes)")
    d.add_argument("--store", default=str(STORE))
    d.add_argument("--take", default=None, metavar="DIR", help="shards carried in")
    d.add_argument("--runs", default="zfnet224,alexnet224", help=f"of {', '.join(RUNS)}")
    d.add_argument("--epochs", type=int, default=15)
    d.add_argument("--minutes", type=float, default=0, help="stop (and checkpoint) after")
    d.add_argument("--compile", action="store_true", help="torch.compile the step")
    d.add_argument("--no-train", action="store_true", help="take and export only")
    d.add_argument("--export-part", type=int, default=None, metavar="K")
    d.add_argument("--out", default=os.environ.get("OUT", "out"))
    d.add_argument("--device", default=None)
    d.add_argument("--workers", type=int, default=None, help="decoding processes")
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of every run (JSON values)")
    a = sub.add_parser("assemble", help="here: join the chunks the calls brought back")
    a.add_argument("folders", nargs="+")
    a.add_argument("--to", required=True)
    for name, helptext in (("pack", "here: the data as JPEG shards"),
                           ("plan", "here: the calls the shards need")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("shards")
        if name == "plan":
            s.add_argument("--tree-mib", type=float, default=None,
                           help="the working tree's MiB a call (default: measured here)")
        if name == "pack":
            s.add_argument("--quality", type=int, default=90)
            s.add_argument("--part-mib", type=float, default=PART_MIB)
            s.add_argument("--per-class", type=int, default=0, help="first n a class (0: all)")
            s.add_argument("--no-natural-val", action="store_true",
                           help="leave Imagewoof's and Imagenette's val out (evaluate here)")
            s.add_argument("--workers", type=int, default=2)
            s.add_argument("--imagewoof", default=None, help="a copy instead of the installed")
            s.add_argument("--imagenette", default=None, help="a copy instead of the installed")
    args = p.parse_args(argv)
    if args.cmd == "assemble":
        for f in assemble([Path(f) for f in args.folders], Path(args.to)):
            print(f"{f} ({f.stat().st_size / 1e6:.1f} MB)")
        return 0
    if args.cmd in ("pack", "plan"):
        return pack_main(args) if args.cmd == "pack" else plan_main(args)
    try:
        args.overrides = parse_overrides(args.set)
        bad = [n for n in args.runs.split(",") if n not in RUNS]
        if bad:
            raise ValueError(f"unknown run(s) {bad}; valid: {', '.join(RUNS)}")
        for n in args.runs.split(","):
            run_config(n, classes=2, epochs=args.epochs, **args.overrides)
        if not 0 <= args.minutes < math.inf:
            raise ValueError(f"--minutes {args.minutes} out of range: 0 (no limit) or more")
    except (ValueError, TypeError) as err:
        p.error(str(err))
    Path(args.store).mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:  # to the call's output and to the store's log (exported)
        print(line, flush=True)
        with open(Path(args.store) / "device.log", "a") as f:
            f.write(line + "\n")

    try:
        return device(args, log=log)
    except FileNotFoundError as err:  # no manifest yet, shards missing for an export
        log(f"gpu_run: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())


