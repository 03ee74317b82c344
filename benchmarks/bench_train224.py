"""Training throughput at Fig. 3's geometry (224-pixel crops of 256-pixel uint8 images resident
where the network is; bf16 autocast and channels-last on a GPU, fp32 on a CPU): the training
loop and its bare step, beside a matmul measured in the same run, and the old loop beside the
new one.

    python benchmarks/bench_train224.py [--device cuda] [--compile] [--steps 40]

Measured, for each network (``--archs``):

- ``images_per_s_loop_<arch>``: :class:`zflib.training.resident.ResidentTrainer`'s own
  ``fit`` (the real loop: batches drawn and gathered on the device, band LRN, the step, losses
  summed on the device and read when it stops), by its own clock, over ``--steps`` steps in
  ``--rounds`` turns taken with the old trainer's ``fit`` after a round of warm-up (with
  ``--compile``: the compilation);
- ``images_per_s_step_<arch>``: its bare step (``train_step``: forward, loss, backward, AdamW,
  renormalisation, the lr schedule) on one batch assembled beforehand, ``--steps`` times, in
  ``--rounds`` turns taken with the old trainer's (a shared CPU's load weighs on both alike);
- ``..._old_<arch>``: the same two for :class:`zflib.training.train.Trainer` (host-drawn crops,
  PyTorch's LRN), and ``loop_speedup_vs_old_<arch>``, ``step_speedup_vs_old_<arch>``;
- ``tflops_*``: PyTorch's FLOP count of one training step per image, times images/s;
  ``matmul_tflops`` (bf16 8192^3 on a GPU, fp32 1024^3 on a CPU, mean of 10 after 3 warm-ups,
  the better of a measurement before and one after) and ``fraction_of_matmul_*``.

Writes ``benchmarks/results/bench_train224.json`` on a GPU, ``bench_train224_cpu.json`` on a
CPU (a flat object of numbers and a ``machine`` string). The images are random (throughput
does not depend on them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from _args import check
from torch.utils.flop_counter import FlopCounterMode

from zflib.config import get_config
from zflib.data import ImageSet
from zflib.training.resident import ResidentTrainer
from zflib.training.train import Trainer, machine_name

RESULTS = Path(__file__).resolve().parent / "results"


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


def make_trainer(kind: str, arch: str, device: torch.device, batch: int, images: int,
                 folder: Path, compile: bool) -> Trainer:
    cfg = get_config("full224", arch=arch, batch_size=batch, epochs=100, keep_epochs=(100,),
                     eval_batch_size=batch, warmup_epochs=0.5)
    train, val = fake_set(images, cfg.image_size, device), fake_set(batch, cfg.image_size, device)
    if kind == "new":
        return ResidentTrainer(cfg, folder / f"{kind}-{arch}", device=device, train=train,
                               val=val, progress=False, compile=compile)
    return Trainer(cfg, folder / f"{kind}-{arch}", device=device, train=train, val=val,
                   progress=False)


def bare_steps(trainers: dict[str, Trainer], steps: int, rounds: int,
               device: torch.device) -> dict[str, tuple[float, float]]:
    """Per trainer: (images/s, training FLOPs per image) of ``train_step`` on one batch made
    beforehand. The trainers take turns, ``rounds`` times ``steps // rounds`` steps each, so
    that a load that changes during the run (a shared machine) weighs on each alike."""
    batches, flops, seconds = {}, {}, dict.fromkeys(trainers, 0.0)
    for k, t in trainers.items():
        batches[k] = t.batch(0, 0)
        with FlopCounterMode(display=False) as fc:
            t.train_step(*batches[k])
        flops[k] = fc.get_total_flops() / len(batches[k][1])
        for _ in range(3):  # warm-up: cuDNN's algorithm search, the allocator, compilation
            t.train_step(*batches[k])
    per = max(1, steps // rounds)
    for _ in range(rounds):
        for k, t in trainers.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(per):
                t.global_step += 1
                t.train_step(*batches[k])
            sync(device)
            seconds[k] += time.perf_counter() - start
    return {k: (rounds * per * len(batches[k][1]) / seconds[k], flops[k]) for k in trainers}


def loops(trainers: dict[str, Trainer], steps: int, rounds: int) -> dict[str, float]:
    """Per trainer: images/s of its own ``fit`` loop (batches drawn, steps, losses summed, as
    its clock ``seconds`` counts them; validation and checkpoints left out), the trainers
    taking turns: each round every trainer's ``fit`` runs ``steps // rounds`` more steps
    (``max_steps`` raised), after one round of warm-up."""
    per = max(1, steps // rounds)
    done = dict.fromkeys(trainers, 0)
    seconds = dict.fromkeys(trainers, 0.0)
    for t in trainers.values():
        t.save = lambda *a, **k: None  # a checkpoint (0.7 GB) is not the loop's speed
        t.finish = dict  # nor a 10-crop evaluation
    for r in range(rounds + 1):
        for k, t in trainers.items():
            before = t.seconds
            done[k] += per
            t.cfg = dataclasses.replace(t.cfg, max_steps=done[k])
            t.fit()
            if r:  # round 0: the warm-up
                seconds[k] += t.seconds - before
    return {k: rounds * per * t.cfg.batch_size / seconds[k] for k, t in trainers.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40, help="bare steps timed, per trainer")
    p.add_argument("--rounds", type=int, default=4, help="turns the trainers take")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--images", type=int, default=8192, help="training images (an epoch)")
    p.add_argument("--archs", default="zfnet,alexnet")
    p.add_argument("--compile", action="store_true", help="the new loop through torch.compile")
    p.add_argument("--no-old", action="store_true", help="leave the old loop out")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=None, help="default: results/bench_train224[_cpu].json")
    args = p.parse_args()
    device = torch.device(args.device)
    out = args.out or str(RESULTS / ("bench_train224.json" if device.type == "cuda"
                                     else "bench_train224_cpu.json"))
    check(p, args, "steps", "rounds", "batch", "images", out=out, device=args.device)
    if args.images < 2 * args.batch:
        p.error(f"--images {args.images} out of range {2 * args.batch}.. (two batches)")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    res: dict[str, float | str] = {"matmul_tflops": matmul_tflops(device)}
    folder = Path(tempfile.mkdtemp(prefix="zflib-bench-train224-"))
    archs = [a for a in args.archs.split(",") if a]
    try:
        for arch in archs:
            kinds = ("new",) if args.no_old else ("new", "old")
            steps = bare_steps({k: make_trainer(k, arch, device, args.batch, args.images,
                                                folder, args.compile) for k in kinds},
                               args.steps, args.rounds, device)
            lps = loops({k: make_trainer(k, arch, device, args.batch, args.images, folder,
                                         args.compile) for k in kinds}, args.steps, args.rounds)
            for kind in kinds:
                sfx = f"{'_old' if kind == 'old' else ''}_{arch}224"
                (ips, flops), lips = steps[kind], lps[kind]
                res |= {f"images_per_s_step{sfx}": ips, f"images_per_s_loop{sfx}": lips,
                        f"tflops_step{sfx}": ips * flops / 1e12,
                        f"tflops_loop{sfx}": lips * flops / 1e12,
                        f"gflop_per_train_image{sfx}": flops / 1e9}
                print(f"{kind} {arch}-224: loop {lips:,.1f} images/s, bare step {ips:,.1f} "
                      f"({ips * flops / 1e12:.4f} TFLOP/s; {flops / 1e9:.2f} GFLOP per "
                      "training image)", flush=True)
                shutil.rmtree(folder / f"{kind}-{arch}", ignore_errors=True)
            if not args.no_old:
                for what in ("loop", "step"):
                    res[f"{what}_speedup_vs_old_{arch}224"] = (
                        float(res[f"images_per_s_{what}_{arch}224"])
                        / float(res[f"images_per_s_{what}_old_{arch}224"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mm = res["matmul_tflops"] = max(float(res["matmul_tflops"]), matmul_tflops(device))
    for key in [k for k in res if k.startswith("tflops_")]:
        res["fraction_of_matmul_" + key[len("tflops_"):]] = float(res[key]) / mm
    precision = "bf16 autocast" if device.type == "cuda" else "fp32"
    res |= {"batch": args.batch, "steps": args.steps, "rounds": args.rounds,
            "images": args.images,
            "compile": float(args.compile),
            "machine": f"{machine_name(device)}, torch {torch.__version__}, {precision}, "
                       f"channels_last{', torch.compile' if args.compile else ''}"}
    print(f"matmul {mm:.3f} TFLOP/s; goal >= 10,000 images/s in the loop on one H200 for "
          f"zfnet-224: {float(res.get('images_per_s_loop_zfnet224', 0)):,.0f}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
