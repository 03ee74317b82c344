"""Trainer throughput against a bare PyTorch loop over the same model and batches, and the
achieved GFLOP/s against a matmul measured in the same run.

    python benchmarks/bench_train.py [--steps 8] [--batch 128] [--threads 2]

Writes ``benchmarks/results/bench_train.json``: ``ratio_vs_bare`` (goal >= 0.9),
``trainer_images_per_s``, ``bare_images_per_s``, ``achieved_gflops``, ``matmul_gflops``,
``fraction_of_matmul``, ``machine``. The trainer's step is what ``Trainer.fit`` runs per step:
batch assembly (mean subtraction, random crop, flip), forward, backward, AdamW, and the
filter renormalisation; the bare loop gets the same batches ready-made and skips the
renormalisation. Rounds alternate trainer and bare loop; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _args import check
from torch.utils.flop_counter import FlopCounterMode

from zflib.config import get_config
from zflib.data import ImageSet, load_split
from zflib.models import model_from_config
from zflib.train import Trainer, machine_name, matmul_gflops

OUT = Path(__file__).resolve().parent / "results" / "bench_train.json"


def data(cfg) -> tuple[ImageSet, ImageSet]:
    try:
        return load_split(cfg, "train"), load_split(cfg, "val")
    except FileNotFoundError:  # no dataset installed: random images of the same shape
        g = torch.Generator().manual_seed(0)
        n = 2048
        fake = ImageSet(torch.randint(0, 256, (n, 64, 64, 3), dtype=torch.uint8, generator=g),
                        torch.randint(0, 200, (n,), generator=g), [str(i) for i in range(200)],
                        [str(i) for i in range(200)], [""] * n)
        return fake, fake


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    check(p, args, "steps", "rounds", "batch", "threads")
    torch.set_num_threads(args.threads)
    cfg = get_config("full", batch_size=args.batch, train_per_class=20, val_limit=256)
    train, val = data(cfg)
    t = Trainer(cfg, "/tmp/zflib-bench-train", device="cpu", train=train, val=val,
                progress=False)
    steps = args.steps
    batches = [t.batch(0, s) for s in range(steps)]

    bare = model_from_config(cfg).to(memory_format=torch.channels_last)
    bare.load_state_dict(t.model.state_dict())
    bare_opt = torch.optim.AdamW(bare.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def bare_step(x, y):
        bare.train()
        loss = F.cross_entropy(bare(x), y)
        bare_opt.zero_grad(set_to_none=True)
        loss.backward()
        bare_opt.step()

    with FlopCounterMode(display=False) as fc:
        bare_step(*batches[0])
    flops_per_step = fc.get_total_flops()
    t.train_step(*t.batch(0, 0))  # warm-up both
    trainer_ips, bare_ips = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for s in range(steps):
            t.train_step(*t.batch(0, s))
        trainer_ips.append(steps * args.batch / (time.perf_counter() - start))
        start = time.perf_counter()
        for x, y in batches:
            bare_step(x, y)
        bare_ips.append(steps * args.batch / (time.perf_counter() - start))
    tr, br = statistics.median(trainer_ips), statistics.median(bare_ips)
    mm = matmul_gflops()
    achieved = flops_per_step * tr / args.batch / 1e9
    res = {"ratio_vs_bare": tr / br, "trainer_images_per_s": tr, "bare_images_per_s": br,
           "achieved_gflops": achieved, "matmul_gflops": mm, "fraction_of_matmul": achieved / mm,
           "gflop_per_train_image": flops_per_step / args.batch / 1e9,
           "batch": args.batch, "threads": args.threads,
           "machine": f"{machine_name(torch.device('cpu'))}, torch {torch.__version__}, fp32 "
                      "channels_last, ZFNet-64 (56 px crops)"}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1))
    print(f"trainer {tr:.1f} img/s, bare loop {br:.1f} img/s: ratio {tr / br:.3f} (goal >= 0.9)")
    print(f"achieved {achieved:.1f} GFLOP/s vs matmul {mm:.1f} GFLOP/s "
          f"({100 * achieved / mm:.0f}%)")


if __name__ == "__main__":
    main()
