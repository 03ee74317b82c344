"""Training throughput at Fig. 3's geometry (224-pixel crops of 256-pixel images resident on the
GPU, bf16 autocast, channels-last): the trainer's own step, against a bf16 matmul measured in
the same run.

    python benchmarks/bench_train224.py [--steps 40] [--device cuda]

Writes ``benchmarks/results/bench_train224.json``: ``images_per_s_zfnet224`` (goal >= 10,000
on one H200), ``tflops_zfnet224`` (achieved: PyTorch's FLOP count of one training step, per
image, times images/s), ``matmul_bf16_tflops`` (an 8192^3 bf16 matmul, mean of 10 after 3
warm-ups), ``fraction_of_matmul_zfnet224``, the same for AlexNet-224, ``batch`` and
``machine``. The step is what ``Trainer.fit`` runs: batch assembly on the GPU (random crop and
flip gathered from the uint8 images, mean subtraction), forward, loss, backward, AdamW, filter
renormalisation, the learning-rate schedule. The images are random (throughput does not
depend on them); 8,192 of them, indexed by the trainer's own epoch permutation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _args import check
from torch.utils.flop_counter import FlopCounterMode

from zflib.config import get_config
from zflib.data import ImageSet
from zflib.training.train import Trainer, machine_name

OUT = Path(__file__).resolve().parent / "results" / "bench_train224.json"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, n: int = 8192, reps: int = 10) -> float:
    """bf16 matmul TFLOP/s on ``device`` (n x n x n; on a CPU fp32 and n = 1024)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n = n if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e12


def fake_set(n: int, size: int, device: torch.device, classes: int = 200) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g)
    names = [str(i) for i in range(classes)]
    return ImageSet(images.to(device), torch.randint(0, classes, (n,), generator=g).to(device),
                    names, names, [""] * n)


def throughput(arch: str, device: torch.device, steps: int, batch: int, images: int
               ) -> tuple[float, float]:
    """(images/s, training FLOPs per image) of the trainer's step for ``arch`` at 224."""
    cfg = get_config("full224", arch=arch, batch_size=batch, epochs=1, keep_epochs=(1,))
    train = fake_set(images, cfg.image_size, device)
    val = fake_set(batch, cfg.image_size, device)
    t = Trainer(cfg, f"/tmp/zflib-bench-train224-{arch}", device=device, train=train, val=val,
                progress=False)
    x, y = t.batch(0, 0)
    with FlopCounterMode(display=False) as fc:
        t.train_step(x, y)
    flops = fc.get_total_flops() / len(y)
    for s in range(1, 6):  # warm-up: cuDNN's algorithm search, the allocator
        t.train_step(*t.batch(0, s))
    sync(device)
    start = time.perf_counter()
    for s in range(steps):
        t.global_step += 1
        t.train_step(*t.batch(0, s % t.steps_per_epoch))
    sync(device)
    return steps * batch / (time.perf_counter() - start), flops


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--images", type=int, default=8192)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    check(p, args, "steps", "batch", "images", out=args.out, device=args.device)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    res: dict[str, float | str] = {"matmul_bf16_tflops": matmul_tflops(device)}
    for arch in ("zfnet", "alexnet"):
        ips, flops = throughput(arch, device, args.steps, args.batch, args.images)
        tflops = ips * flops / 1e12
        res |= {f"images_per_s_{arch}224": ips, f"tflops_{arch}224": tflops,
                f"gflop_per_train_image_{arch}224": flops / 1e9}
        print(f"{arch}-224: {ips:,.0f} images/s, {tflops:.1f} TFLOP/s "
              f"({flops / 1e9:.2f} GFLOP per training image)")
    mm = res["matmul_bf16_tflops"] = max(float(res["matmul_bf16_tflops"]), matmul_tflops(device))
    for arch in ("zfnet", "alexnet"):
        res[f"fraction_of_matmul_{arch}224"] = float(res[f"tflops_{arch}224"]) / mm
    res |= {"batch": args.batch, "steps": args.steps,
            "machine": f"{machine_name(device)}, torch {torch.__version__}, "
                       f"{'bf16 autocast' if device.type == 'cuda' else 'fp32'}, channels_last"}
    print(f"bf16 matmul {res['matmul_bf16_tflops']:.0f} TFLOP/s; goal >= 10,000 images/s "
          f"for zfnet-224: {res['images_per_s_zfnet224']:,.0f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
