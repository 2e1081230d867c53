"""The portable CPU mode makes training bit-identical whatever vector paths the processor offers.

Each case trains a small P4 classifier a few Adam steps (`python -m gcnn.portable --probe`, the same code as
scripts/portable_probe.py) in a fresh subprocess, because the mode only takes effect before torch loads:

* with the mode on (GCNN_PORTABLE=1, applied at `import gcnn`), in two subprocesses whose environments force
  different dispatch: one the baseline ATen capability, the other the machine's best ATen capability, oneDNN
  uncapped with bf16 math allowed, MKL without CBWR and one thread. The mode must override all of it: both runs
  give bit-identical loss and parameter sum, equal to `tests/reference/portable_reference.json`, written on
  another machine, so CI on any AVX2 machine checks the cross-machine claim;
* without the mode, the same two capabilities give different numbers where the machine has a capability
  above the baseline: the mode is what makes them equal.

Regenerate the reference (only after a deliberate change of the probe, the mode or the torch version):
    PYTHONPATH=src python tests/test_portable.py --regenerate
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "reference" / "portable_reference.json"
PROBE_ARGS = ["--steps", "3", "--batch", "16", "--channels", "4,8,8,8,16"]
FINGERPRINT = ("loss_hex", "param_sum_hex")

sys.path.insert(0, str(REPO / "src"))
from gcnn.portable import PORTABLE_ENV, SWITCH  # noqa: E402

# Everything that steers PyTorch's CPU dispatch; removed from the inherited environment before each case.
DISPATCH_VARS = set(PORTABLE_ENV) | {SWITCH, "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA", "DNNL_DEFAULT_FPMATH_MODE"}


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _best_capability(flags: set[str]) -> str:
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "default"


def _launch(env_vars: dict[str, str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in DISPATCH_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(env_vars)
    return subprocess.Popen(
        [sys.executable, "-m", "gcnn.portable", "--probe", *PROBE_ARGS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _collect(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _run_all(cases: dict[str, dict[str, str]]) -> dict[str, dict]:
    """Two at a time: the start (importing torch) of one overlaps the training of the other."""
    names, results = list(cases), {}
    for i in range(0, len(names), 2):
        procs = {n: _launch(cases[n]) for n in names[i : i + 2]}
        results.update({n: _collect(p) for n, p in procs.items()})
    return results


def _cases(best: str) -> dict[str, dict[str, str]]:
    return {
        # The mode on, as make PORTABLE=1 does it (the variables in the environment), ATen forced to baseline.
        "portable/default": {**PORTABLE_ENV, SWITCH: "1", "ATEN_CPU_CAPABILITY": "default"},
        # The mode asked for by GCNN_PORTABLE=1 alone, in an environment that forces the other dispatch paths.
        f"portable/{best}": {
            SWITCH: "1",
            "ATEN_CPU_CAPABILITY": best,
            "ONEDNN_MAX_CPU_ISA": "ALL",
            "ONEDNN_DEFAULT_FPMATH_MODE": "BF16",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        },
        "native/default": {"ATEN_CPU_CAPABILITY": "default"},
        f"native/{best}": {"ATEN_CPU_CAPABILITY": best},
    }


@pytest.fixture(scope="module")
def runs():
    flags = _cpu_flags()
    if not {"avx2", "fma"} <= flags:
        pytest.skip("the portable mode's claim covers x86-64 processors with AVX2 and FMA; this one has none")
    best = _best_capability(flags)
    return best, _run_all(_cases(best))


def test_portable_runs_are_bit_identical_across_capabilities(runs):
    best, res = runs
    a, b = res["portable/default"], res[f"portable/{best}"]
    assert {k: a[k] for k in FINGERPRINT} == {k: b[k] for k in FINGERPRINT}, (a, b)
    assert a["capability"] == b["capability"] == "DEFAULT" and a["threads"] == b["threads"]
    assert a["portable"] and b["portable"], "the subprocesses did not report the mode in effect"


def test_portable_runs_match_the_committed_reference(runs):
    import torch

    _, res = runs
    ref = json.loads(REFERENCE.read_text())
    if ref["torch"] != torch.__version__.split("+")[0]:
        pytest.skip(f"reference made with torch {ref['torch']}, this is {torch.__version__}: regenerate it")
    got = res["portable/default"]
    assert {k: got[k] for k in FINGERPRINT} == {k: ref[k] for k in FINGERPRINT}, (
        f"portable-mode result differs from the reference made on {ref['cpu']}: {got} vs {ref}"
    )
    assert ref["probe_args"] == PROBE_ARGS and ref["env"] == PORTABLE_ENV, "the mode or probe changed: regenerate"


def test_without_the_mode_capabilities_differ(runs):
    best, res = runs
    if best == "default":
        pytest.skip("this processor has no ATen capability above the baseline: nothing to tell apart")
    a, b = res["native/default"], res[f"native/{best}"]
    assert (a["capability"], b["capability"]) == ("DEFAULT", best.upper())
    assert {k: a[k] for k in FINGERPRINT} != {k: b[k] for k in FINGERPRINT}, (
        f"DEFAULT and {best.upper()} agree bit for bit without the mode here: the test no longer shows that "
        "the mode is what makes results equal"
    )


def _regenerate() -> None:
    import platform

    import torch

    from gcnn.provenance import cpu_model

    got = _run_all({"portable": _cases("avx2")["portable/default"]})["portable"]
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    ref = {
        "made_by": "PYTHONPATH=src python tests/test_portable.py --regenerate",
        "torch": torch.__version__.split("+")[0],
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "native_capability": torch.backends.cpu.get_cpu_capability(),
        "probe_args": PROBE_ARGS,
        "env": PORTABLE_ENV,
        **{k: got[k] for k in ("loss", "loss_hex", "param_sum", "param_sum_hex", "capability", "threads")},
    }
    REFERENCE.write_text(json.dumps(ref, indent=2) + "\n")
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    if sys.argv[1:] == ["--regenerate"]:
        _regenerate()
    else:
        print(__doc__)
