"""The one object every dataset builder returns and the trainer consumes.

Datasets are small enough (MNIST 60k x 33 x 33, PH2 200 x 3 x 257 x 257) to live in memory as single
tensors, so a batch is a slice and a whole split can move to the GPU at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Split = tuple[torch.Tensor, torch.Tensor]
# (images, targets, generator) -> (images, targets); applied to each training batch on the CPU.
Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], Split]


@dataclass
class DataBundle:
    """Tensors of one experiment's data.

    task: "classification" (targets int64 (N,)) or "segmentation" (targets float32 (N, 1, H, W) in {0, 1}).
    train: the training split, images float32 (N, C, H, W).
    evals: named evaluation splits; metric keys are "<split>_<metric>", e.g. "test_acc",
        "test_transformed_acc", "test_rotated_iou".
    augment: optional per-batch training augmentation.
    synthetic: True for generated data; the trainer and tables label such runs.
    info: anything worth writing beside the run (sizes, split ids, source folder).
    """

    task: str
    name: str
    train: Split
    evals: dict[str, Split]
    augment: Augment | None = None
    synthetic: bool = False
    info: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.train[0].shape[1])


class DataError(RuntimeError):
    """A dataset is missing or malformed. The message is one line naming the file and the fix."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line DataErrors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def available_memory() -> int | None:
    """Bytes of memory this process can still take: Linux's MemAvailable, within a cgroup v2 limit when there
    is one (a container, a SLURM job); None when the system does not say."""
    free = None
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as m, open("/sys/fs/cgroup/memory.current") as c:
            limit, used = m.read().strip(), int(c.read())
        if limit != "max":
            free = min(free if free is not None else int(limit), int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def check_memory(nbytes: int, what: str, fix: str) -> None:
    """DataError, before anything is allocated, when a dataset needs more memory than the machine has free."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise DataError(
            f"{what} need about {nbytes / 2**30:.1f} GiB of memory, more than the {max(free, 0) / 2**30:.1f} GiB "
            f"this machine has free: {fix}"
        )
