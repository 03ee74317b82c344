"""Run by tests/test_ddp.py under ``torchrun --nproc_per_node=2``: a few DDP steps on CPU
(gloo), then every rank saves its own weights for the test to compare."""

import sys
import time

import torch
import torch.distributed as dist

from zflib.config import get_config
from zflib.training.train import Trainer, train


def main(run_dir: str, skewed_deadline: bool = False) -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    if sys.argv[2:] == ["disagree"]:
        return disagree(run_dir)
    cfg = get_config("smoke", num_classes=10, train_per_class=0, val_limit=0, batch_size=16,
                     epochs=1, max_steps=3, checkpoint_every=0, keep_epochs=())
    # skewed: rank 0's deadline has passed, rank 1's is an hour away (clocks and start times
    # differ between ranks); all must stop after the same step
    deadline = (time.time() + 3600 * dist.get_rank()) if skewed_deadline else None
    t = train(cfg, run_dir, progress=False, resume=False, deadline=deadline)
    torch.save(t.model.state_dict(), f"{run_dir}/rank{dist.get_rank()}.pt")
    dist.destroy_process_group()


def disagree(run_dir: str) -> None:
    """Validation errors that differ by rank (rank 0 improves, rank 1 does not): the plateau
    rule must act on rank 0's, so that every rank keeps the same lr."""
    errors = {0: iter([0.9, 0.8]), 1: iter([0.9, 0.9])}[dist.get_rank()]
    Trainer.validate = lambda self, **_: {"loss": 1.0, "top1_err": next(errors), "top5_err": 0.5}
    cfg = get_config("smoke", num_classes=10, train_per_class=2, val_limit=0, batch_size=16,
                     epochs=2, checkpoint_every=0, keep_epochs=(), plateau_patience=1,
                     ablation="no67")
    t = train(cfg, run_dir, progress=False, resume=False)
    torch.save({"lr": torch.tensor(t.lr, dtype=torch.float64), **t.model.state_dict()},
               f"{run_dir}/rank{dist.get_rank()}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], skewed_deadline=sys.argv[2:] == ["skewed"])
