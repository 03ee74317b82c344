"""The unit atlas (zflib.apps.atlas) of the committed ZFNet-64: every map of layers 1-5 (1,376)
over the Tiny ImageNet validation images, built twice in one process.

1. ``cold``: from an empty mining cache (a fresh temporary folder): model and images loaded,
   the top-9 of every map mined, every map projected, drawn and paged.
2. ``warm``: the same into a new folder with the mining cached (it mines nothing).

For each: wall and process CPU seconds (the machine may be shared: CPU time is the steadier
figure), maps per second of the whole build, and the share of the build's time spent in
mining, projection (the deconvnet, :func:`zflib.apps.mine.project`), image encoding and pages
(HTML and writing); ``load`` is the model and the decoded images. ``warm_vs_cold``: the cached
build's time over the cold one's. ``folder_mb``: the site's bytes (apparent sizes),
``folder_disk_mb``: the blocks it takes on disk.

Run: ``python benchmarks/bench_atlas.py [--images 10000] [--threads 1] [--format webp]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from _args import check
from _memory import resource_peak_mb

from zflib.apps import atlas, mine
from zflib.training.train import machine_name
from zflib.viz.atlas import FORMATS

PHASES = ("mining", "projection", "encoding", "pages")


def _timed_build(sub, images, out, cache, **kw) -> dict[str, float]:
    t, cpu = time.perf_counter(), time.process_time()
    rep = atlas.build(sub, images, out, cache_dir=cache, **kw)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    res = {"maps": rep.maps, "s": wall, "cpu_s": cpu, "maps_per_s": rep.maps / wall,
           "mining_cached": float(rep.mining_cached)}
    for p in PHASES:
        res[f"share_{p}"] = rep.seconds[p] / wall
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000, help="validation images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--format", default="webp", choices=list(FORMATS))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results/bench_atlas.json"))
    args = ap.parse_args()
    check(ap, args, "images", "threads", out=args.out)
    torch.set_num_threads(args.threads)

    t, cpu = time.perf_counter(), time.process_time()
    sub = mine.subject("zfnet64")
    images, labels = mine.images_of(sub, split="val", limit=args.images)
    names, classes = atlas.split_classes(labels)
    card = atlas.model_card(sub, model="zfnet64")
    load_s, load_cpu_s = time.perf_counter() - t, time.process_time() - cpu
    kw = {"names": names, "classes": classes, "card": card, "image_format": args.format,
          "source": "the validation split of tiny-imagenet"}
    res: dict[str, float | str] = {"images": len(images), "load_s": round(load_s, 2),
                                   "load_cpu_s": round(load_cpu_s, 2)}
    with tempfile.TemporaryDirectory(prefix="bench-atlas-") as tmp:
        cold = _timed_build(sub, images, Path(tmp) / "cold", Path(tmp) / "cache", **kw)
        warm = _timed_build(sub, images, Path(tmp) / "warm", Path(tmp) / "cache", **kw)
        files = [p for p in (Path(tmp) / "warm").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        disk = sum(p.stat().st_blocks * 512 for p in files)
    assert not cold["mining_cached"] and warm["mining_cached"]
    res["maps"] = maps = cold.pop("maps")
    warm.pop("maps")
    for name, r in (("cold", cold), ("warm", warm)):
        for key, v in r.items():
            if key != "mining_cached":
                res[f"{name}_{key}"] = round(v, 3)
        # the whole command: loading the model and images, then the build
        res[f"{name}_total_s"] = round(load_s + r["s"], 2)
        res[f"{name}_total_cpu_s"] = round(load_cpu_s + r["cpu_s"], 2)
    res["warm_vs_cold"] = round(warm["s"] / cold["s"], 3)
    res["files"] = len(files)
    res["folder_mb"] = round(size / 1e6, 2)
    res["folder_disk_mb"] = round(disk / 1e6, 2)
    res["peak_rss_mb"] = round(resource_peak_mb())
    res["threads"] = args.threads
    res["machine"] = (f"{machine_name(torch.device('cpu'))}, torch {torch.__version__}; "
                      f"committed ZFNet-64, {args.format} pictures")
    for name, r in (("cold (empty mining cache)", cold), ("warm (mining cached)", warm)):
        shares = ", ".join(f"{p} {r[f'share_{p}']:.0%}" for p in PHASES)
        print(f"{name}: {load_s + r['s']:.1f} s with loading ({r['s']:.1f} s build, "
              f"{r['cpu_s']:.1f} s CPU), {r['maps_per_s']:.1f} maps/s; {shares}")
    print(f"{maps} maps over {len(images)} images; folder {res['folder_mb']} MB in "
          f"{len(files)} files ({res['folder_disk_mb']} MB on disk); warm/cold "
          f"{res['warm_vs_cold']:.2f}; peak RSS {res['peak_rss_mb']} MB")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
