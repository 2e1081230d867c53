"""Portable CPU mode: the same float32 results on any x86-64 machine with AVX2 (Intel or AMD).

PyTorch's CPU kernels pick their vector code by processor: ATen by its "CPU capability" (DEFAULT, AVX2,
AVX512), oneDNN (convolutions) by its ISA (AVX2, AVX-512, AMX), MKL (matrix products) by its code path.
float32 sums then differ in the last bits from machine to machine, and training amplifies that. The mode
pins each dispatch to one path that every AVX2 machine has. It only works when set before torch is imported,
so it is a set of environment variables, defined here once (`PORTABLE_ENV`) and applied by:

* `make <target> PORTABLE=1` — the Makefile runs gcnn's commands as `python -m gcnn_study.process.portable -- <command>`
  (`make demo` turns it on by itself);
* `GCNN_PORTABLE=1 python -m gcnn_study.train ...` — `import gcnn_study` applies the mode when torch is not loaded yet;
* `python -m gcnn_study.process.portable -- <command ...>` — runs any command with the mode on;
* `gcnn_study.process.portable.apply()` in a script, before `import torch`.

Which variable changes results and what each costs is measured by `scripts/portable_probe.py`
(docs/reproducibility.md), the probe that tests/gcnn_study/test_portable.py also fingerprints machines with. The
claim covers x86-64 processors with AVX2 and FMA, at THREADS threads. This module imports nothing heavy: it
must run before torch loads.
"""

from __future__ import annotations

import os
import sys

#: The single source of truth for the mode. Every value is one that any x86-64 machine with AVX2 can take.
PORTABLE_ENV: dict[str, str] = {
    # ATen's elementwise / reduction / optimizer kernels: the baseline (SSE2) build, not AVX2 / AVX512.
    "ATEN_CPU_CAPABILITY": "default",
    # oneDNN (convolutions): AVX2 kernels at most, so an AVX-512 / AMX machine runs the same ones as an AVX2 one.
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # oneDNN's fp32 math stays fp32 (no implicit bf16 / tf32 down-conversion on AMX machines).
    "ONEDNN_DEFAULT_FPMATH_MODE": "STRICT",
    # MKL (linear layers): conditional numerical reproducibility, one code path on every processor.
    "MKL_CBWR": "COMPATIBLE",
    # A fixed thread count: kernels split their reductions by it (measured: in the mode 1 and 2 threads agreed
    # on the probe, 4 threads did not). 2 = the CI and demo machines' cores; more cores stay idle in the mode.
    "OMP_NUM_THREADS": "2",
    "MKL_NUM_THREADS": "2",
}
#: The variable that turns the mode on at `import gcnn_study` (and that the Makefile's PORTABLE=1 sets).
SWITCH = "GCNN_PORTABLE"
#: The fixed thread count, as a number (torch.set_num_threads after import, for code that changes it).
THREADS = int(PORTABLE_ENV["OMP_NUM_THREADS"])


def asked_for(environ=None) -> bool:
    """True when GCNN_PORTABLE asks for the mode (1, true, yes, on): the switch, not whether the mode is on."""
    value = (os.environ if environ is None else environ).get(SWITCH, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def variables_set(environ=None) -> bool:
    """True when every variable of the mode has its value in the environment (this process's by default); whether
    they came early enough to take effect is `in_effect`'s question."""
    env = os.environ if environ is None else environ
    return all(env.get(k) == v for k, v in PORTABLE_ENV.items())


def variable_values(environ=None) -> dict[str, str | None]:
    """The mode's variables and their values in the environment (None where unset): for provenance records."""
    env = os.environ if environ is None else environ
    return {k: env.get(k) for k in PORTABLE_ENV}


def _initial_environ() -> dict[str, str] | None:
    """The environment this process started with (Linux: /proc/self/environ), None where unreadable."""
    try:
        raw = open("/proc/self/environ", "rb").read()
    except OSError:
        return None
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


_set_before_torch = False  # apply() set the variables in this process while torch was not loaded yet


def in_effect() -> bool:
    """True when the mode really governs this process: its variables were in the environment before torch
    loaded (from the start of the process, or by apply() before `import torch`), and, when torch is loaded,
    ATen reports the baseline capability and torch runs THREADS threads. Setting the variables after
    `import torch` gives False."""
    if not variables_set():
        return False
    initial = _initial_environ()
    if not (_set_before_torch or "torch" not in sys.modules or initial is None or variables_set(initial)):
        return False
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "backends"):
        # A later torch.set_num_threads(n != THREADS) (e.g. trainer.num_threads) leaves the mode's claim too.
        return torch.backends.cpu.get_cpu_capability() == "DEFAULT" and torch.get_num_threads() == THREADS
    return True


def apply(reexec: bool = True, strict: bool = True) -> bool:
    """Turn the mode on for this process; returns whether it is in effect afterwards.

    Before torch is imported, setting the variables is enough. Once torch is loaded they no longer take effect:
    then, with `reexec`, the process restarts itself (os.execve, same command line) with the variables set, so
    the caller never goes on half-portable; without it, `strict` raises a RuntimeError that says what to do,
    and otherwise a warning says the mode is not in effect (provenance records portable_mode false).
    """
    global _set_before_torch
    if "torch" not in sys.modules:
        os.environ.update(PORTABLE_ENV)
        os.environ[SWITCH] = "1"
        _set_before_torch = True
        return True
    if in_effect():
        return True
    if reexec:
        env = {**os.environ, **PORTABLE_ENV, SWITCH: "1"}
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *original_argv()], env)
    message = (
        f"the portable mode was asked for after `import torch`, too late to take effect; set {SWITCH}=1 "
        "in the environment (or make PORTABLE=1), or call gcnn_study.process.portable.apply() before importing torch"
    )
    if strict:
        raise RuntimeError(message)
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=2)
    return False


def original_argv() -> list[str]:
    """The interpreter's own argv (with -m module / -c), so a re-exec runs the same command."""
    orig = getattr(sys, "orig_argv", None)  # Python >= 3.10: includes the interpreter and its options
    if orig:
        return list(orig[1:])
    return list(sys.argv)


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        if len(argv) == 1:
            print("usage: python -m gcnn_study.process.portable -- <command ...>", file=sys.stderr)
            return 2
        env = {**os.environ, **PORTABLE_ENV, SWITCH: "1"}
        os.execvpe(argv[1], argv[1:], env)
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gcnn_study.process.portable",
        usage="python -m gcnn_study.process.portable -- <command ...>",
        description=__doc__.split("\n")[0] + " Runs the command with the mode's variables set.",
    )
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    # `python -m gcnn_study.process.portable`: `import gcnn_study` already loaded this file as
    # gcnn_study.process.portable; run that
    # module's
    # _main, so that there is one copy of the module state (apply() records whether it ran before torch).
    from gcnn_study.process import portable as _module

    sys.exit(_module._main(sys.argv[1:]))
