"""Which environment variables change PyTorch's CPU results, and what each costs: the probe behind the
portable mode (docs/reproducibility.md).

The probe (`--probe`) trains a P4 classifier (P4CNN's channels, conf/model/p4cnn.yaml) 20 Adam steps at lr 1e-3
on one fixed random batch of 64 33×33 images, seed 0, deterministic mode, in this process, and prints its exact
fingerprints as one line of JSON; tests/gcnn_study/test_portable.py runs it, smaller, to compare machines.

Without `--probe`, each row of ROWS runs the probe in a fresh subprocess whose environment holds only the row's
variables (the mode's variables are removed from the parent's first), and the script prints a markdown table:
capability torch reports, final loss, float64 parameter sum, seconds, and whether the row is bit-identical to
the portable mode (the first row). "CPU s" is the process's CPU time in the training loop, a steadier cost
measure than wall time on a shared machine (2-thread rows also count OpenMP's spin-waiting).

    PYTHONPATH=src python scripts/portable_probe.py [--steps 20] [--rows "portable mode (PORTABLE_ENV);native"]
    PYTHONPATH=src python scripts/portable_probe.py --probe [--steps 3 --batch 16 --channels 4,8,8,8,16]

This script imports torch only inside the probe: `import gcnn_study` must come first, to apply GCNN_PORTABLE=1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gcnn_study.process.portable import PORTABLE_ENV, SWITCH, in_effect  # noqa: E402  (applies GCNN_PORTABLE=1: no torch yet)

CANDIDATE = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"}
ROWS: dict[str, tuple[dict, list[str]]] = {
    "portable mode (PORTABLE_ENV)": (PORTABLE_ENV, []),
    "native": ({}, []),
    "native, 1 thread": ({}, ["--threads", "1"]),
    "candidate (ATen default, oneDNN AVX2, MKL CBWR)": (CANDIDATE, []),
    "candidate, 1 thread": (CANDIDATE, ["--threads", "1"]),
    "portable, ATEN avx2": ({**PORTABLE_ENV, "ATEN_CPU_CAPABILITY": "avx2"}, []),
    "portable, ATEN avx512": ({**PORTABLE_ENV, "ATEN_CPU_CAPABILITY": "avx512"}, []),
    "portable, oneDNN uncapped": ({k: v for k, v in PORTABLE_ENV.items() if k != "ONEDNN_MAX_CPU_ISA"}, []),
    "portable, oneDNN SSE41": ({**PORTABLE_ENV, "ONEDNN_MAX_CPU_ISA": "SSE41"}, []),
    "portable, oneDNN AVX512_CORE": ({**PORTABLE_ENV, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, []),
    "portable, no MKL_CBWR": ({k: v for k, v in PORTABLE_ENV.items() if k != "MKL_CBWR"}, []),
    "portable + MKL_ENABLE_INSTRUCTIONS=SSE4_2": ({**PORTABLE_ENV, "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, []),
    "portable, FPMATH BF16": ({**PORTABLE_ENV, "ONEDNN_DEFAULT_FPMATH_MODE": "BF16"}, []),
    "portable, oneDNN uncapped, FPMATH BF16": (
        {**{k: v for k, v in PORTABLE_ENV.items() if k != "ONEDNN_MAX_CPU_ISA"}, "ONEDNN_DEFAULT_FPMATH_MODE": "BF16"},
        [],
    ),
    "portable, 1 thread": ({**PORTABLE_ENV, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, []),
    "portable, 4 threads": ({**PORTABLE_ENV, "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}, []),
    "portable mode, oneDNN off": (PORTABLE_ENV, ["--no-mkldnn"]),
    "ATen default, MKL CBWR, oneDNN off": (
        {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
        ["--no-mkldnn"],
    ),
}
CLEAR = set(PORTABLE_ENV) | {SWITCH, "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA", "DNNL_DEFAULT_FPMATH_MODE"}


# ----------------------------------------------------------------------------------------------- the probe
def probe(
    steps: int = 20,
    batch: int = 64,
    group: str = "p4",
    channels: tuple[int, ...] = (8, 16, 32, 64, 128),
    size: int = 33,
    lr: float = 1e-3,
    seed: int = 0,
    threads: int | None = None,
) -> dict:
    """Train a GroupClassifier `steps` Adam steps on one fixed random batch; return exact fingerprints.

    The batch: seeded by `gcnn_study.process.runtime.seed_everything(seed)` with the deterministic backends, then the
    model is built, then x = randn(batch, 1, size, size), y = randint(10, (batch,)). The fingerprints are exact: the
    last loss as repr() and float.hex(), the sum of all parameters in float64 as repr() and hex.
    """
    import torch

    from gcnn.models import GroupClassifier
    from gcnn_study.process import runtime

    if threads:
        torch.set_num_threads(int(threads))
    runtime.seed_everything(seed)
    runtime.set_backends(torch.device("cpu"), deterministic=True)
    model = GroupClassifier(group=group, channels=list(channels))
    x = torch.randn(batch, 1, size, size)
    y = torch.randint(10, (batch,))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    with torch.no_grad():
        psum = float(sum(p.double().sum() for p in model.parameters()))
    return {
        "loss": repr(losses[-1]),
        "loss_hex": float.hex(losses[-1]),
        "param_sum": repr(psum),
        "param_sum_hex": float.hex(psum),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "steps_per_s": round(steps / seconds, 3),
    }


def probe_once(args: argparse.Namespace) -> None:
    """`--probe`: the probe in this process, its fingerprints and whether the mode governs it, as one JSON line."""
    if args.no_mkldnn:
        import torch

        torch.backends.mkldnn.enabled = False
    out = probe(
        args.steps,
        args.batch,
        args.group,
        tuple(int(c) for c in args.channels.split(",")),
        args.size,
        threads=args.threads,
    )
    out["portable"] = in_effect()
    print(json.dumps(out))


# ----------------------------------------------------------------------------------------------- the table
def run_row(env_vars: dict, extra: list[str], steps: int) -> dict:
    """The probe in a fresh process whose environment holds the row's variables and none of the others."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAR}
    env.update(env_vars)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", "--steps", str(steps), *extra]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall"] = round(time.perf_counter() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rows", default=";".join(ROWS), help="row names separated by ; (default: all)")
    ap.add_argument("--out", default=None, help="also write the table, with the command and machine, to this file")
    ap.add_argument("--probe", action="store_true", help="train the probe model here, print its fingerprints (JSON)")
    ap.add_argument("--batch", type=int, default=64, help="(--probe) images in the batch")
    ap.add_argument("--group", default="p4", help="(--probe) the model's group")
    ap.add_argument("--channels", default="8,16,32,64,128", help="(--probe) channels per layer")
    ap.add_argument("--size", type=int, default=33, help="(--probe) image size")
    ap.add_argument("--threads", type=int, default=None, help="(--probe) torch.set_num_threads")
    ap.add_argument("--no-mkldnn", action="store_true", help="(--probe) torch.backends.mkldnn.enabled = False")
    args = ap.parse_args()
    if args.probe:
        probe_once(args)
        return
    wanted = args.rows.split(";")
    names = [r for r in ROWS if r in wanted]
    results, lines = {}, []

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    emit("| environment | capability | threads | final loss | parameter sum | train s | CPU s | = portable |")
    emit("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        env_vars, extra = ROWS[name]
        r = run_row(env_vars, extra, args.steps)
        results[name] = r
        ref = results.get("portable mode (PORTABLE_ENV)")
        same = (
            ""
            if ref is None
            else ("yes" if (r["loss_hex"], r["param_sum_hex"]) == (ref["loss_hex"], ref["param_sum_hex"]) else "no")
        )
        emit(
            f"| {name} | {r['capability']} | {r['threads']} | {float(r['loss']):.10f} | {float(r['param_sum']):.12f} "
            f"| {r['seconds']} | {r['cpu_seconds']} | {same} |"
        )
    print(json.dumps(results, indent=1), file=sys.stderr)
    if args.out:
        from datetime import datetime, timezone

        from gcnn_study.run.provenance import processor, processor_key

        command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = [
            "# What each CPU setting changes, and what it costs\n",
            f"Made by: `{command}` on {when}\n",
            f"Machine: {processor_key(processor())}, {os.cpu_count()} CPUs\n",
            f"P4CNN, {args.steps} Adam steps on one batch of 64 33×33 images (`scripts/portable_probe.py --probe`), "
            "each row in a fresh process with only its variables set. Train s: wall time of the steps; CPU s: the "
            "process's CPU time in them.\n",
        ]
        Path(args.out).write_text("\n".join(head + lines) + "\n")


if __name__ == "__main__":
    main()
