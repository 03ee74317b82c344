"""Trainer throughput against a bare PyTorch loop over the same model and batches, and the
achieved GFLOP/s against a matmul measured in the same run.

    python benchmarks/bench_train.py [--steps 8] [--batch 128] [--threads 2]

Writes ``benchmarks/results/bench_train.json``: ``ratio_vs_bare`` (goal >= 0.9),
``trainer_images_per_s``, ``bare_images_per_s``, ``achieved_gflops``, ``matmul_gflops``,
``fraction_of_matmul``, ``conv_gflops``, ``fraction_of_conv``, ``machine``. Both yardsticks
are the best of one measurement per round, taken between the rounds: a 2048 x 2048 fp32
matmul, and the forward pass of the model's costliest convolution on a training batch
(channels-last, as trained). oneDNN's convolutions run faster than its matmul on this CPU, so
the training step can exceed the matmul yardstick. The trainer's step is what
``Trainer.fit`` runs per step: batch assembly (mean subtraction, random crop, flip), forward,
backward, AdamW, and the filter renormalisation; the bare loop gets the same batches
ready-made and skips the renormalisation. Rounds alternate trainer and bare loop; medians
are reported.
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
from zflib.training.models import model_from_config
from zflib.training.train import Trainer, machine_name, matmul_gflops

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


def costliest_conv(model: torch.nn.Module, x: torch.Tensor
                   ) -> tuple[torch.nn.Conv2d, torch.Tensor]:
    """The conv layer of ``model.features`` with the most FLOPs on batch ``x``, and its input."""
    best, h = None, x
    with torch.no_grad():
        for m in model.features:
            if isinstance(m, torch.nn.Conv2d):
                with FlopCounterMode(display=False) as fc:
                    out = m(h)
                if best is None or fc.get_total_flops() > best[0]:
                    best = (fc.get_total_flops(), m, h)
                h = out
            else:
                h = m(h)
    return best[1], best[2]


def conv_gflops(conv: torch.nn.Conv2d, x: torch.Tensor, reps: int = 5) -> float:
    """GFLOP/s of ``conv``'s forward pass on ``x`` (FLOPs as PyTorch's counter counts them)."""
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        conv(x)
    flops = fc.get_total_flops()
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(reps):
            conv(x)
        return flops * reps / (time.perf_counter() - start) / 1e9


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
    conv, conv_in = costliest_conv(bare, batches[0][0])
    trainer_ips, bare_ips, mms, convs = [], [], [], []
    for _ in range(args.rounds):
        mms.append(matmul_gflops())
        convs.append(conv_gflops(conv, conv_in))
        start = time.perf_counter()
        for s in range(steps):
            t.train_step(*t.batch(0, s))
        trainer_ips.append(steps * args.batch / (time.perf_counter() - start))
        start = time.perf_counter()
        for x, y in batches:
            bare_step(x, y)
        bare_ips.append(steps * args.batch / (time.perf_counter() - start))
    tr, br = statistics.median(trainer_ips), statistics.median(bare_ips)
    mm, cv = max(mms), max(convs)
    achieved = flops_per_step * tr / args.batch / 1e9
    res = {"ratio_vs_bare": tr / br, "trainer_images_per_s": tr, "bare_images_per_s": br,
           "achieved_gflops": achieved, "matmul_gflops": mm, "fraction_of_matmul": achieved / mm,
           "conv_gflops": cv, "fraction_of_conv": achieved / cv,
           "gflop_per_train_image": flops_per_step / args.batch / 1e9,
           "batch": args.batch, "threads": args.threads,
           "machine": f"{machine_name(torch.device('cpu'))}, torch {torch.__version__}, fp32 "
                      "channels_last, ZFNet-64 (56 px crops)"}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1))
    print(f"trainer {tr:.1f} img/s, bare loop {br:.1f} img/s: ratio {tr / br:.3f} (goal >= 0.9)")
    print(f"achieved {achieved:.1f} GFLOP/s vs matmul {mm:.1f} GFLOP/s "
          f"({100 * achieved / mm:.0f}%) and vs {conv} forward {cv:.1f} GFLOP/s "
          f"({100 * achieved / cv:.0f}%)")


if __name__ == "__main__":
    main()
