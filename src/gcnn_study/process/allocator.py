"""glibc's allocator for training on a CPU: keep the memory a step frees for the next step.

A training step allocates and frees the same large tensors every step: a SegNet's activations at 256² and batch 20
are hundreds of MiB each. glibc serves every block above its mmap threshold (128 KiB by default, 32 MiB at most)
with its own mmap and unmaps it when freed, so at every step the kernel maps those pages again and zeroes them.
On the 2-core Xeon that was a quarter to a third of a SegNet run's CPU time, spent in the kernel (minor page
faults); with `mmap_max=0` every block comes from the heap, and with a trim threshold above any run's memory the
heap keeps it for the next step (docs/benchmarks.md has the measurement). The arithmetic does not change: the same
bits with and without (tests/gcnn_study/test_allocator.py).

glibc reads GLIBC_TUNABLES once, when the process starts, so the training entry points call `ensure()` first:
without the variable, the process restarts itself once with it (os.execve, the same command line), as
gcnn_study.process.portable does for its mode. For `python -m gcnn_study.train` and `gcnn-train`, `import gcnn_study`
does it before torch loads (`training_command`), so the restart costs no second import of torch;
`scripts/benchmark_training.py` calls it in its `__main__`. A GLIBC_TUNABLES already in the environment is left as
it is: `GLIBC_TUNABLES= python -m gcnn_study.train ...` (empty) runs with glibc's defaults. Other C libraries
(macOS, musl) ignore the variable. Imports nothing heavy: it runs before torch loads.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "GLIBC_TUNABLES"
#: No block of its own mmap (mmap_max=0), and no trimming of the heap below 64 GiB (trim_threshold).
TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"


def ensure(environ=None, execve=os.execve) -> None:
    """Restart this process with TUNABLES unless GLIBC_TUNABLES is already set (or this is not Linux)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or VARIABLE in env or not sys.executable:
        return
    from gcnn_study.process.portable import original_argv  # the interpreter options and `-m module` too

    sys.stdout.flush()
    sys.stderr.flush()
    execve(sys.executable, [sys.executable, *original_argv()], {**env, VARIABLE: TUNABLES})


def training_command(argv=None) -> bool:
    """Whether this process is `python -m gcnn_study.train` or `gcnn-train` (`import gcnn_study` restarts those at
    once)."""
    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    return argv[1:3] == ["-m", "gcnn_study.train"] or (len(argv) > 1 and os.path.basename(argv[1]) == "gcnn-train")


def for_training(environ=None) -> str | None:
    """The GLIBC_TUNABLES a training process started from this environment runs with (None: glibc's defaults):
    the variable as it is, set empty to turn the setting off, or TUNABLES, which `ensure()` adds."""
    env = os.environ if environ is None else environ
    if VARIABLE in env:
        return env[VARIABLE] or None
    return TUNABLES if sys.platform.startswith("linux") else None


def keeps_freed_memory(tunables: str | None) -> bool:
    """Whether a process with these GLIBC_TUNABLES keeps every freed block in its heap (mmap_max=0): its resident
    memory is then its peak, and the heap's fragments on top (gcnn_study.reproduce.projection.HEAP_FACTOR)."""
    settings = dict(item.partition("=")[::2] for item in (tunables or "").split(":"))
    return settings.get("glibc.malloc.mmap_max") == "0"


def in_effect(environ=None) -> str | None:
    """The GLIBC_TUNABLES this process runs with (None: glibc's defaults), for provenance."""
    return (os.environ if environ is None else environ).get(VARIABLE) or None
