"""Run by tests/test_ddp.py under ``torchrun --nproc_per_node=2``: a few DDP steps on CPU
(gloo), then every rank saves its own weights for the test to compare."""

import sys

import torch
import torch.distributed as dist

from zflib.config import get_config
from zflib.train import train


def main(run_dir: str) -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    cfg = get_config("smoke", num_classes=10, train_per_class=0, val_limit=0, batch_size=16,
                     epochs=1, max_steps=3, checkpoint_every=0, keep_epochs=())
    t = train(cfg, run_dir, progress=False, resume=False)
    torch.save(t.model.state_dict(), f"{run_dir}/rank{dist.get_rank()}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
