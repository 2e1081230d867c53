"""The portable CPU mode: bit-identical training on one processor whatever dispatch paths it offers, and, across
processors, exactly what the committed fingerprints show (docs/reproducibility.md).

Each case trains a small P4 classifier a few Adam steps (`scripts/portable_probe.py --probe`) in a fresh
subprocess, because the mode only takes effect before torch loads.

* Within this machine: with the mode on (GCNN_PORTABLE=1, applied at `import gcnn_study`), two subprocesses whose
  environments force different dispatch (the baseline ATen capability against the machine's best, oneDNN
  uncapped with bf16 math, MKL without CBWR, one thread) give bit-identical loss and parameter sum; without the
  mode the two capabilities differ, so the mode is what makes them equal.
* Across machines: every processor the suite has run on leaves a fingerprint in `tests/reference/fingerprints/`
  (its vendor, family, model, dispatch flags and caches, the torch version, and the probe's result in the mode
  and in the candidate mode with oneDNN off). This machine must equal the fingerprints it is claimed to equal:
  those of the same processor, and all of them once processors of two vendors agree. A processor with no
  fingerprint and no such claim is reported (skip), never failed: docs/reproducibility.md claims nothing for it yet.
* The claim of docs/reproducibility.md is generated from the fingerprints (`claim_text`) and must stand in it verbatim.

Record this machine's fingerprint (after a deliberate change of the probe, the mode or torch, or on a new
processor), then paste the printed claim into docs/reproducibility.md:
    make portable-reference
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

FINGERPRINTS = REPO / "tests" / "reference" / "fingerprints"
CLAIM_DOC = REPO / "docs" / "reproducibility.md"
PROBE = REPO / "scripts" / "portable_probe.py"
PROBE_ARGS = ["--steps", "3", "--batch", "16", "--channels", "4,8,8,8,16"]
FINGERPRINT = ("loss_hex", "param_sum_hex")
#: The mode (PORTABLE_ENV), and the candidate measured beside it: the same with oneDNN switched off, so that
#: convolutions run ATen's own im2col + MKL (under CBWR) instead of oneDNN's cache-blocked kernels.
MODES = {"portable": [], "portable, oneDNN off": ["--no-mkldnn"]}
ADOPTED = "portable"

sys.path.insert(0, str(REPO / "src"))
from gcnn_study.process.portable import PORTABLE_ENV, SWITCH  # noqa: E402
from gcnn_study.run.provenance import processor, processor_key, slug  # noqa: E402

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


def _launch(env_vars: dict[str, str], extra: list[str] = ()) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in DISPATCH_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(env_vars)
    return subprocess.Popen(
        [sys.executable, str(PROBE), "--probe", *PROBE_ARGS, *extra],
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


def _run_all(cases: dict[str, dict[str, str] | tuple[dict[str, str], list[str]]]) -> dict[str, dict]:
    """Two at a time: the start (importing torch) of one overlaps the training of the other. A case is an
    environment, or (environment, extra probe arguments)."""
    names, results = list(cases), {}
    for i in range(0, len(names), 2):
        procs = {n: _launch(*(cases[n] if isinstance(cases[n], tuple) else (cases[n],))) for n in names[i : i + 2]}
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
        # The candidate mode, for this machine's fingerprint.
        "portable, oneDNN off": ({**PORTABLE_ENV, SWITCH: "1"}, MODES["portable, oneDNN off"]),
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


# ----------------------------------------------------------------------------------------------- fingerprints
def _same_processor(a: dict, b: dict) -> bool:
    keys = ("vendor", "family", "model")
    return a.get("model") is not None and all(a.get(k) == b.get(k) for k in keys)


def load_fingerprints(torch_version: str | None = None) -> list[dict]:
    """The committed fingerprints (of one torch version when given), in file-name order."""
    found = [json.loads(p.read_text()) | {"file": p.name} for p in sorted(FINGERPRINTS.glob("*.json"))]
    return [f for f in found if torch_version is None or f["torch"] == torch_version]


def _agreeing(prints: list[dict], mode: str) -> list[list[dict]]:
    """The fingerprints grouped by their result in `mode` (those without one left out), largest group first."""
    groups: dict[tuple, list[dict]] = {}
    for f in prints:
        if mode in f["modes"]:
            groups.setdefault(tuple(f["modes"][mode][k] for k in FINGERPRINT), []).append(f)
    return sorted(groups.values(), key=len, reverse=True)


def universal(prints: list[dict], mode: str = ADOPTED) -> bool:
    """The claim "any x86-64 processor with AVX2": every fingerprint agrees, and they come from two vendors."""
    groups = _agreeing(prints, mode)
    return len(groups) == 1 and len({f["processor"]["vendor"] for f in groups[0]}) >= 2


def claimed_equal(proc: dict, prints: list[dict], mode: str = ADOPTED) -> list[dict]:
    """The fingerprints this processor is claimed to equal in `mode`: all when the claim is universal,
    otherwise those of the same processor."""
    prints = [f for f in prints if mode in f["modes"]]
    return prints if universal(prints, mode) else [f for f in prints if _same_processor(f["processor"], proc)]


def claim_text(prints: list[dict]) -> str:
    """The claim of docs/reproducibility.md, generated from the fingerprints of one torch version."""
    lines = []
    for mode in MODES:
        groups = _agreeing(prints, mode)
        if not groups:
            continue
        name = "The portable mode" if mode == ADOPTED else f"The candidate mode ({mode})"
        if universal(prints, mode):
            lines.append(f"- {name} gives the same bits on every processor measured: any x86-64 with AVX2.")
            continue
        parts = [" and ".join(_label(f) for f in g) for g in groups]
        lines.append(
            f"- {name}: "
            + "; ".join(f"identical on {p}" for p in parts[:1])
            + "".join(f"; other bits on {p}" for p in parts[1:])
            + "."
        )
    torch_versions = sorted({f["torch"] for f in prints})
    return f"Measured with torch {', '.join(torch_versions)} (`tests/reference/fingerprints/`):\n" + "\n".join(lines)


def _label(f: dict) -> str:
    p = f["processor"]
    isa = "AVX-512" if "avx512f" in p.get("flags", []) else "AVX2"
    return f"{processor_key(p)}, {isa}"


def test_this_machine_equals_every_fingerprint_it_is_claimed_to_equal(runs):
    import torch

    _, res = runs
    proc, version = processor(), torch.__version__.split("+")[0]
    prints = load_fingerprints(version)
    mine = {"portable": res["portable/default"], "portable, oneDNN off": res["portable, oneDNN off"]}
    checked = 0
    for mode, got in mine.items():
        for f in claimed_equal(proc, prints, mode):
            assert f["probe_args"] == PROBE_ARGS and f["env"] == PORTABLE_ENV, f"{f['file']}: regenerate it"
            want = {k: f["modes"][mode][k] for k in FINGERPRINT}
            assert {k: got[k] for k in FINGERPRINT} == want, (
                f"{mode}: this machine ({processor_key(proc)}) differs from {f['file']} ({_label(f)}), "
                f"which docs/reproducibility.md claims it equals: {got} vs {want}"
            )
            checked += 1
    if not checked:
        pytest.skip(
            f"no committed fingerprint is claimed equal to {processor_key(proc)} with torch {version}; its "
            f"fingerprint: "
            + json.dumps({m: {k: r[k] for k in FINGERPRINT} for m, r in mine.items()})
            + "; record it with `make portable-reference`"
        )


def test_the_docs_claim_exactly_what_the_fingerprints_show():
    prints = load_fingerprints()
    assert prints, "tests/reference/fingerprints/ is empty"
    for version in sorted({f["torch"] for f in prints}):
        text = claim_text([f for f in prints if f["torch"] == version])
        doc = CLAIM_DOC.read_text()
        block = doc.split("<!-- portable-claim -->", 1)[-1].split("<!-- /portable-claim -->", 1)[0]
        assert block.strip() == text, (
            f"docs/reproducibility.md, between the portable-claim markers, must state:\n{text}"
        )


def test_the_claim_logic_on_made_up_fingerprints():
    def fp(vendor, model, bits):
        proc = {"name": "cpu", "vendor": vendor, "family": 25, "model": model, "flags": ["avx2"]}
        return {"processor": proc, "torch": "1", "modes": {ADOPTED: {"loss_hex": bits, "param_sum_hex": bits}}}

    amd3, amd4, intel = fp("AuthenticAMD", 1, "a"), fp("AuthenticAMD", 17, "a"), fp("GenuineIntel", 143, "b")
    assert not universal([amd3, amd4]) and not universal([amd3, amd4, intel])
    assert claimed_equal(amd4["processor"], [amd3, amd4, intel]) == [amd4]  # only itself: no universal claim
    assert claimed_equal(fp("AuthenticAMD", 99, "?")["processor"], [amd3, amd4, intel]) == []  # unknown: none
    intel_same = fp("GenuineIntel", 143, "a")
    assert universal([amd3, amd4, intel_same])  # two vendors agree: every processor is claimed
    assert len(claimed_equal(fp("AuthenticAMD", 99, "?")["processor"], [amd3, intel_same])) == 2
    assert "other bits on" in claim_text([amd3, amd4, intel]) and "any x86-64" in claim_text([amd3, intel_same])


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
    """Write this machine's fingerprint to tests/reference/fingerprints/; print docs/reproducibility.md's claim."""
    import platform

    import torch

    proc, version = processor(), torch.__version__.split("+")[0]
    got = _run_all(
        {"portable": _cases("avx2")["portable/default"], "portable, oneDNN off": _cases("avx2")["portable, oneDNN off"]}
    )
    record = {
        "made_by": "make portable-reference",
        "processor": proc,
        "torch": version,
        "python": platform.python_version(),
        "probe_args": PROBE_ARGS,
        "env": PORTABLE_ENV,
        "modes": {m: {k: got[m][k] for k in ("loss", "loss_hex", "param_sum", "param_sum_hex")} for m in MODES},
    }
    name = slug(f"{proc['vendor']} f{proc['family']} m{proc['model']} torch {version}")
    out = FINGERPRINTS / f"{name}.json"
    FINGERPRINTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"wrote {out.relative_to(REPO)}\n\nThe claim (docs/reproducibility.md, between the portable-claim markers):\n"
    )
    print(claim_text(load_fingerprints(version)))


if __name__ == "__main__":
    if sys.argv[1:] == ["--regenerate"]:
        _regenerate()
    else:
        print(__doc__)
