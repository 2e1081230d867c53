"""How this process runs torch: the seeds, the device, the backend switches and autocast.

The trainer (`gcnn_study.train`), the portable-mode probe (`scripts/portable_probe.py`) and the training benchmark
(`scripts/benchmark_training.py`) set these the same way by calling the same functions. torch and numpy only.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (torch's on every device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_backends(device: torch.device, deterministic: bool, tf32: bool = False, cudnn_benchmark: bool = False) -> None:
    """Every switch of torch's backends a run sets, here only (trainer.deterministic, tf32, cudnn_benchmark).

    `deterministic`: torch's deterministic kernels (a warning, not an error, where an operation has none), and
    no cudnn.benchmark whatever `cudnn_benchmark` says. `tf32` is for CUDA's matrix products and convolutions:
    on another device it is not touched.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN (a debugging aid): a third of CPU time.
        torch.utils.deterministic.fill_uninitialized_memory = False
    # cudnn.benchmark picks the fastest kernel by timing, which may differ between runs: never with determinism.
    torch.backends.cudnn.benchmark = bool(cudnn_benchmark) and not deterministic
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
        torch.backends.cudnn.allow_tf32 = bool(tf32)


def resolve_device(name: str) -> torch.device:
    """`auto` (CUDA when there is a GPU, else the CPU), or the named device; ValueError for CUDA without a GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"trainer.device={name} but this machine has no CUDA device; use trainer.device=auto or cpu")
    return device


def autocast(device: torch.device, bf16: bool):
    """bfloat16 autocast on CUDA when `bf16` (trainer.bf16); elsewhere float32 as written."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(bf16) and device.type == "cuda")


def peak_memory_gib(device: torch.device) -> float:
    """The peak memory of this process so far, in GiB: on a GPU what torch allocated there; elsewhere the process's
    peak resident set (ru_maxrss: KiB on Linux, bytes on macOS), which is what sharing a CPU machine's RAM costs."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20
