"""The trainer under torchrun with DistributedDataParallel (gloo, two CPU processes): both ranks
end with identical weights, which differ from the initial ones."""

import json
import os
import subprocess
import sys

import torch

from zflib.config import get_config
from zflib.training.models import model_from_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _torchrun(port: int, *args: str, timeout: int = 600) -> None:
    """``torchrun --nproc_per_node=2 ARGS`` on the CPU (one thread per rank); must succeed."""
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={port}", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]


def test_two_ranks_end_identical(tiny_home, tmp_path):
    _torchrun(29517, os.path.join(ROOT, "tests", "ddp_worker.py"), str(tmp_path))
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"
    torch.manual_seed(0)
    init = model_from_config(get_config("smoke", num_classes=10)).state_dict()
    assert not torch.equal(init["features.0.weight"], a["features.0.weight"])
    assert torch.load(tmp_path / "last.pt", weights_only=True)["global_step"] == 3


def test_ranks_stop_together_at_a_deadline(tiny_home, tmp_path):
    """Rank 0's deadline passes at once, rank 1's never: both stop after the first step (a
    rank that went on would wait in the gradient all-reduce for ever); only rank 0 writes."""
    _torchrun(29518, os.path.join(ROOT, "tests", "ddp_worker.py"), str(tmp_path / "run"),
              "skewed", timeout=300)
    run = tmp_path / "run"
    a = torch.load(run / "rank0.pt", weights_only=True)
    b = torch.load(run / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"
    assert torch.load(run / "last.pt", weights_only=True)["global_step"] == 1
    assert sorted(p.name for p in run.iterdir()) == [
        "last.pt", "rank0.pt", "rank1.pt", "results.json"]


def test_ranks_agree_on_the_plateau_rule(tiny_home, tmp_path):
    """Rank 1's validation error stalls while rank 0's improves: both keep rank 0's lr (a rank
    that divided it alone would train apart from the others) and end with identical weights."""
    _torchrun(29519, os.path.join(ROOT, "tests", "ddp_worker.py"), str(tmp_path), "disagree",
              timeout=300)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert float(a["lr"]) == float(b["lr"]) == get_config("smoke").lr
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    assert [r["val_top1_err"] for r in rows] == [0.9, 0.8]


def test_the_command_line_trainer_runs_under_torchrun(tiny_home, tmp_path):
    """``torchrun -m zflib.training.train``, as the README gives it: the CLI joins the process group
    (``distributed.launched``), both ranks train, rank 0 alone writes the run."""
    run = tmp_path / "run"
    settings = ["num_classes=10", "train_per_class=0", "val_limit=0", "batch_size=16",
                "epochs=1", "max_steps=3", "checkpoint_every=0", "keep_epochs=[]",
                "ablation=no67"]
    _torchrun(29520, "-m", "zflib.training.train", "--profile", "smoke", "--run-dir", str(run),
              "--no-resume", *[a for s in settings for a in ("--set", s)])
    results = json.loads((run / "results.json").read_text())
    assert results["world_size"] == 2
    assert torch.load(run / "last.pt", weights_only=True)["global_step"] == 3
    assert sorted(p.name for p in run.iterdir()) == ["last.pt", "results.json"]
