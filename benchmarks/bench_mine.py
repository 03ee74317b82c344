"""Top-k mining sharded over ranks: ``python -m zflib.apps.mine`` on one process against
``torchrun --nproc_per_node=N -m zflib.apps.mine`` on the same images, same threads per process.

Model: the committed ZFNet-64 (``zfnet64``); images: the first ``--images`` of the Tiny ImageNet
validation split; layers 1-5, k = 9; no figures. Each run's mining time is what
:mod:`zflib.apps.mine` records around the pass (the gather and merge included; start-up and data
loading not). Results must be identical (``results_equal``).

- ``images_per_s_1_rank``, ``images_per_s_<N>_ranks``; ``sharded_speedup_<N>_ranks``: their
  ratio (N is the cores of this machine by default: there is nothing else to shard over here).
- ``forward_images_per_s``: a bare evaluation forward pass of the same model over the same
  images in this process, ``--threads`` threads, batches of 128 (``model(x)`` under
  ``no_grad``); ``mining_1_rank_vs_forward``: how close the command's pass comes to it.

Run: ``python benchmarks/bench_mine.py [--images 10000] [--ranks 2] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _args import check

from zflib.methods.topk import load_topk
from zflib.training.train import cpu_name


def _run(ranks: int, out: Path, args) -> tuple[dict, dict]:
    cmd = [sys.executable, "-m", "zflib.apps.mine", "--model", "zfnet64", "--limit",
           str(args.images), "--maps", "0", "--out", str(out)]
    if ranks > 1:
        cmd[1:3] = ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}",
                    "--master_port=29531", "-m", "zflib.apps.mine"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return load_topk(out / "topk.pt")


def _forward(args) -> float:
    from zflib.config import get_config
    from zflib.data import load_split, to_input
    from zflib.training.artifacts import load_trained

    torch.set_num_threads(args.threads)
    tr = load_trained("zfnet64")
    val = load_split(get_config("full", val_limit=args.images), "val")
    x = to_input(val.images, tr.mean, tr.cfg)
    with torch.no_grad():
        tr.model(x[:128])  # warm-up
        t = time.perf_counter()
        for i in range(0, len(x), 128):
            tr.model(x[i:i + 128])
    return len(x) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--ranks", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--threads", type=int, default=1, help="threads per process")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results/bench_mine.json"))
    args = ap.parse_args()
    check(ap, args, "images", "ranks", "threads", out=args.out)
    with tempfile.TemporaryDirectory() as tmp:
        one, m1 = _run(1, Path(tmp) / "one", args)
        many, mn = _run(args.ranks, Path(tmp) / "many", args)
    forward = _forward(args)
    equal = all(torch.equal(getattr(one[n], f), getattr(many[n], f))
                for n in one for f in ("values", "images", "ys", "xs"))
    n = args.ranks
    res = {
        "machine": f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} CPUs, "
                   f"{args.threads} thread(s) per process",
        "images": args.images, "ranks": n, "threads_per_rank": args.threads,
        "images_per_s_1_rank": round(args.images / m1["seconds"], 1),
        f"images_per_s_{n}_ranks": round(args.images / mn["seconds"], 1),
        f"sharded_speedup_{n}_ranks": round(m1["seconds"] / mn["seconds"], 3),
        "results_equal": int(equal),
        "forward_images_per_s": round(forward, 1),
        "mining_1_rank_vs_forward": round(args.images / m1["seconds"] / forward, 3),
    }
    print(f"mining {args.images} images, layers 1-5, k=9: 1 rank "
          f"{res['images_per_s_1_rank']} img/s, {n} ranks {res[f'images_per_s_{n}_ranks']} img/s"
          f" = {res[f'sharded_speedup_{n}_ranks']}x; identical results: {bool(equal)}; bare "
          f"forward {res['forward_images_per_s']} img/s (1 rank's pass: "
          f"{res['mining_1_rank_vs_forward']} of it)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
