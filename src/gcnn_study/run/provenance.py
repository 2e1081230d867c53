"""Where a run's numbers came from: code version, software, machine, and whether the portable mode was on.

`collect()` returns a JSON-able dict for the run records; `machine_key()` condenses it into the one line that
tables group runs by, naming exactly what makes float32 results differ between machines (CPU model, ATen
capability and the portable mode on a CPU; GPU model, CUDA and cuDNN on a GPU; torch everywhere).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from gcnn_study.process import allocator, portable

KEY_PACKAGES = ("torch", "torchvision", "numpy", "hydra-core", "omegaconf", "albumentations", "pandas")
UNKNOWN = "unknown"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def git_state(root: Path | None = None) -> dict:
    """{"commit": sha or "unknown", "dirty": bool or None}; "unknown" outside a git checkout or without git."""
    root = root or _repo_root()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return {"commit": UNKNOWN, "dirty": None}  # an installed copy inside some other repository
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": UNKNOWN, "dirty": None}


def package_versions(names=KEY_PACKAGES) -> dict:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or UNKNOWN


def hardware_slug(device: str = "cpu") -> str:
    """The processor (or GPU) in a file name: "amd-epyc", "intel-xeon-processor", "nvidia-h200". Benchmarks
    name their reports with it, so that a measurement on one machine never replaces another machine's."""
    if str(device).startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = cpu_model()
    return slug(name) or "unknown"


def slug(text: str) -> str:
    """`text` as a file-name part: lower case, trademark marks dropped, every other run of characters one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"\((r|tm)\)", "", text.lower())).strip("-")


#: The instruction-set flags that steer PyTorch's CPU dispatch (ATen capability, oneDNN ISA, MKL code path).
DISPATCH_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)


def processor() -> dict:
    """What identifies the processor for float32 results: vendor, family and model numbers, the name, the
    dispatch flags it has, and its cache sizes (oneDNN chooses its blocking from them). Linux (/proc, /sys)."""
    info: dict = {"name": cpu_model(), "vendor": UNKNOWN, "family": None, "model": None, "flags": [], "cache_kib": {}}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    first = text.split("\n\n", 1)[0]
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines())}
    info["vendor"] = fields.get("vendor_id", UNKNOWN)
    info["family"] = int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else None
    info["model"] = int(fields["model"]) if fields.get("model", "").isdigit() else None
    info["flags"] = [f for f in DISPATCH_FLAGS if f in fields.get("flags", "").split()]
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
        info["cache_kib"][name] = int(size[:-1]) * (1024 if size.endswith("M") else 1) if size[:-1].isdigit() else size
    return info


def processor_key(proc: dict) -> str:
    """The processor in one phrase: "AMD EPYC (AuthenticAMD family 25 model 17)"; numbers not recorded say so."""
    known = [f"{k} {proc[k]}" for k in ("family", "model") if proc.get(k) is not None]
    ident = " ".join([proc.get("vendor", UNKNOWN), *known]) + ("" if len(known) == 2 else ", model not recorded")
    return f"{proc.get('name', UNKNOWN)} ({ident})"


def collect(num_threads: int | None = None) -> dict:
    """Provenance of the current process. `num_threads`: the count the run uses, if not torch's current one."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "git": git_state(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "packages": package_versions(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "processor": processor(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "num_threads": int(num_threads) if num_threads else torch.get_num_threads(),
        "portable_mode": portable.in_effect(),
        "portable_env": portable.variable_values(),
        "allocator": allocator.in_effect(),  # GLIBC_TUNABLES: how memory is kept, not what is computed
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "executable": sys.executable,
    }


def machine_key(prov: dict, device: str | None = None) -> str:
    """One line naming what makes numbers differ: runs with equal keys are comparable bit for bit (same seed).

    `device`: the run's device ("cpu", "cuda", "cuda:0"); by default CUDA when the record has a GPU.
    """
    dev = device if device is not None else ("cuda" if prov.get("gpu") else "cpu")
    torch_v = prov.get("torch", UNKNOWN)
    if str(dev).startswith("cuda"):
        return (
            f"cuda: {prov.get('gpu') or UNKNOWN}, torch {torch_v}, CUDA {prov.get('cuda')}, cuDNN {prov.get('cudnn')}"
        )
    # the family and model, not the name alone: "AMD EPYC" is Zen 4 on one machine and Zen 5 on the next, whose
    # kernels and cache blocking differ (records before 2026-12-07 name it only in their provenance: upgraded_machines)
    cpu = processor_key(prov["processor"]) if prov.get("processor") else prov.get("cpu", UNKNOWN)
    if prov.get("portable_mode"):  # identical across the processors docs/reproducibility.md lists (tests/reference/)
        return f"cpu: {cpu}, portable mode, {prov.get('num_threads')} threads, torch {torch_v}"
    return (
        f"cpu: {cpu}, capability {prov.get('cpu_capability', UNKNOWN)}, "
        f"{prov.get('num_threads')} threads, portable mode off, torch {torch_v}"
    )


def _with_processor(key: str | None, processor: dict) -> str | None:
    """A native CPU key written before keys named the processor ("cpu: AMD EPYC, capability …"), with `processor`
    in place of the bare name; any other key as it is."""
    if not key or not key.startswith("cpu: ") or "portable mode off" not in key:
        return key
    name, sep, rest = key.removeprefix("cpu: ").partition(", capability ")
    if not sep or " family " in name or "model not recorded" in name:  # not the old form, or names it already
        return key
    return f"cpu: {processor_key({'name': name, **processor})}, capability {rest}"


def upgraded_machines(record: dict) -> dict:
    """A record (metrics.json) whose machine keys name the processor, as this module writes them now. A record from
    before that names it in its provenance (`processor`: family and model), and each of its launches is taken to
    have run on that processor (the records written so far resumed on the machine that paused them); a record
    whose provenance has no family and model gets "model not recorded", never another record's processor."""
    proc = (record.get("provenance") or {}).get("processor") or {"vendor": UNKNOWN}
    launches = record.get("launches")
    if isinstance(launches, list) and launches:
        launches = [{**x, "machine": _with_processor(x.get("machine"), proc)} for x in launches]
        machine = run_machine(launches) if str(record.get("machine", "")).startswith("mixed") else None
        return {**record, "launches": launches, "machine": machine or _with_processor(record.get("machine"), proc)}
    return {**record, "machine": _with_processor(record.get("machine"), proc)}


# ----------------------------------------------------------------------------------------------- launches
#: A launch in a checkpoint written before launches were recorded: its epochs are known, nothing else.
NOT_RECORDED = "not recorded (saved before launches were recorded)"


def launch(origin: dict, device: str, command: str | None, first_epoch: int) -> dict:
    """One process's share of a run: the command that started it, the code and machine it ran on, and (filled
    in as it goes) the epochs it trained. A run paused at a deadline and resumed has one launch per process, so
    a record says which commit and machine trained which epochs, not only those of its last launch (a run that
    `make reproduce` hands more cores is paused and relaunched on them: gcnn_study.reproduce.scheduler)."""
    git = origin.get("git", {})
    return {
        "command": command,
        "commit": git.get("commit", UNKNOWN),
        "dirty": git.get("dirty"),
        "machine": machine_key(origin, device),
        "allocator": origin.get("allocator"),  # gcnn_study.process.allocator: the same bits, not the same speed
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "epochs": [first_epoch, first_epoch - 1],  # [first, last]; empty (last < first) until an epoch ends
    }


def earlier_launches(state: dict) -> list[dict]:
    """The launches a checkpoint holds; one whose checkpoint predates them gets one entry for its saved epochs."""
    if "launches" in state:
        return [dict(x) for x in state["launches"]]
    if not state.get("epoch"):
        return []
    unknown = dict.fromkeys(("command", "commit", "machine", "started"), NOT_RECORDED)
    return [{**unknown, "dirty": None, "epochs": [1, int(state["epoch"])]}]


def run_machine(launches: list[dict]) -> str:
    """The machine key of a whole run: that of its last launch (the one that evaluated it) when every launch whose
    machine is recorded ran there; otherwise each machine with its epochs, so that the run never shares a table's
    machine line with runs made on one machine alone."""
    final = launches[-1]["machine"]
    known = [x for x in launches if x.get("machine") not in (None, NOT_RECORDED)]
    if all(x["machine"] == final for x in known):
        return final
    parts = [f"{x.get('machine') or NOT_RECORDED} ({epochs_span(x)})" for x in launches if epochs_span(x)]
    return "mixed: " + "; ".join(parts)


def epoch_machines(record: dict) -> dict[int, str]:
    """{epoch: machine key of the launch that trained it} of a finished record (read it through
    `upgraded_machines`); an epoch whose launch did not record its machine (or a record older than launches) gets
    the record's machine."""
    machines = {}
    for x in record.get("launches") or []:
        machine = x.get("machine")
        first, last = x["epochs"]
        for epoch in range(first, last + 1):
            machines[epoch] = machine if machine and machine != NOT_RECORDED else record.get("machine")
    return machines


def epochs_span(launch: dict) -> str:
    """The epochs a launch trained, as "epoch 3" or "epochs 1-15"; "" for a launch that only evaluated."""
    first, last = launch["epochs"]
    return "" if last < first else f"epoch {first}" if first == last else f"epochs {first}-{last}"


def launches_line(launches: list[dict]) -> str:
    """Which commit trained which epochs, in one line: "epochs 1-15 not recorded; epochs 16-29 at 6bc1c94; …"."""
    parts = []
    for x in launches:
        span = epochs_span(x) or "evaluation"
        commit = x.get("commit") or UNKNOWN
        if commit == NOT_RECORDED:
            parts.append(f"{span} not recorded")
        else:
            parts.append(f"{span} at {commit[:7]}{' (uncommitted changes)' if x.get('dirty') else ''}")
    return "; ".join(parts)
