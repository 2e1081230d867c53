"""Provenance records and the machine key that table footers group runs by; the portable mode's plumbing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gcnn_study.process import portable

from gcnn_study.run import provenance
from helpers import REPO


def _env_without_portable_mode() -> dict:
    """This process's environment minus the portable mode's variables and switch, with gcnn on the path."""
    env = {k: v for k, v in os.environ.items() if k not in portable.PORTABLE_ENV and k != portable.SWITCH}
    return env | {"PYTHONPATH": str(REPO / "src")}


def test_collect_records_code_software_and_machine():
    prov = provenance.collect()
    json.dumps(prov)  # a run record must be JSON
    assert prov["torch"] == torch.__version__
    assert prov["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert prov["num_threads"] == torch.get_num_threads()
    assert prov["cpu"] and prov["cpu"] != "unknown"
    assert set(provenance.KEY_PACKAGES) <= set(prov["packages"])
    assert prov["packages"]["torch"] == torch.__version__.split("+")[0]
    assert set(prov["portable_env"]) == set(portable.PORTABLE_ENV)
    assert isinstance(prov["portable_mode"], bool)
    assert (prov["gpu"] is None) == (not torch.cuda.is_available())
    git = prov["git"]
    assert git["commit"] == "unknown" or len(git["commit"]) == 40
    assert provenance.collect(num_threads=7)["num_threads"] == 7


def test_git_state_in_this_checkout_and_outside_one(tmp_path):
    state = provenance.git_state()
    if (REPO / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert state["commit"] == head.strip() and isinstance(state["dirty"], bool)
    assert provenance.git_state(tmp_path) == {"commit": "unknown", "dirty": None}


def test_machine_key_names_what_makes_numbers_differ():
    cpu = {
        "torch": "2.14.1",
        "cpu": "AMD EPYC 7B13",
        "cpu_capability": "AVX2",
        "num_threads": 2,
        "portable_mode": False,
        "gpu": None,
        "cuda": None,
        "cudnn": None,
    }
    key = provenance.machine_key(cpu)
    assert key.startswith("cpu: AMD EPYC 7B13") and "AVX2" in key and "portable mode off" in key and "2.14.1" in key
    other = provenance.machine_key({**cpu, "cpu": "Intel(R) Xeon(R) Processor", "cpu_capability": "AVX512"})
    assert other != key
    assert provenance.machine_key({**cpu, "num_threads": 1}) != key
    on = provenance.machine_key({**cpu, "portable_mode": True, "cpu_capability": "DEFAULT"})
    # the mode is shown identical only across the processors its fingerprints list, so the processor stays
    assert "portable mode" in on and "AMD EPYC 7B13" in on and "portable mode off" not in on
    assert provenance.machine_key({**cpu, "cpu": "Intel(R) Xeon(R)", "portable_mode": True}) != on
    zen4 = {"name": "AMD EPYC", "vendor": "AuthenticAMD", "family": 25, "model": 17}
    key4 = provenance.machine_key({**cpu, "portable_mode": True, "processor": zen4})
    assert "AMD EPYC (AuthenticAMD family 25 model 17), portable mode" in key4
    assert key4 != provenance.machine_key({**cpu, "portable_mode": True, "processor": {**zen4, "model": 1}})
    gpu = {**cpu, "gpu": "NVIDIA H100 80GB HBM3", "cuda": "13.0", "cudnn": 92400}
    assert provenance.machine_key(gpu) == "cuda: NVIDIA H100 80GB HBM3, torch 2.14.1, CUDA 13.0, cuDNN 92400"
    assert provenance.machine_key(gpu, device="cpu").startswith("cpu: ")
    assert provenance.machine_key({}).startswith("cpu: unknown")


def test_makefile_portable_runs_gcnn_in_the_mode():
    """`make PORTABLE=1` runs gcnn's commands with the variables of PORTABLE_ENV, `make demo` turns the mode on, and
    no Python runs while make reads the Makefile (the mode is set when a recipe runs)."""
    show = "import os; [print(f'{k}={v}') for k, v in os.environ.items()]"
    mk = REPO / "Makefile"
    text = mk.read_text() + f'\nshow-portable-env:\n\t@$(RUN) -c "{show}"\n'
    env = {k: v for k, v in os.environ.items() if k not in portable.PORTABLE_ENV and k not in ("PORTABLE", "MAKEFLAGS")}

    def make(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["make", "-f", "-", *args]
        return subprocess.run(cmd, input=text, capture_output=True, text=True, cwd=REPO, env=env, check=check)

    def make_env(*args: str) -> dict:
        out = make("-s", "show-portable-env", f"PY={sys.executable}", *args).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    on = make_env("PORTABLE=1")
    assert {k: on.get(k) for k in portable.PORTABLE_ENV} == portable.PORTABLE_ENV and on["GCNN_PORTABLE"] == "1"
    off = make_env()
    assert off.get("PORTABLE") == "0" and "ATEN_CPU_CAPABILITY" not in off
    # `make demo`: the mode is on (its sub-makes inherit PORTABLE); `make table1` leaves it off.
    text += "\n$(info mode: PORTABLE=$(PORTABLE))\n"
    for goal, expect in (("demo", "PORTABLE=1"), ("table1", "PORTABLE=0")):
        out = make("-n", goal, "-o", ".venv/.installed", check=False).stdout
        assert f"mode: {expect}\n" in out, out[:500]
    # Reading the Makefile runs nothing: an interpreter that cannot run does not matter until a recipe needs it.
    assert "$(shell" not in mk.read_text()
    assert make("-n", "help", "PORTABLE=1", "PY=false", "PYTHON=false").returncode == 0


def test_import_gcnn_applies_the_mode_before_torch():
    """GCNN_PORTABLE=1 alone: `import gcnn_study` sets the variables before torch loads, and the mode is in effect."""
    env = _env_without_portable_mode() | {portable.SWITCH: "1", "ATEN_CPU_CAPABILITY": "avx2"}
    code = (
        "import gcnn_study, torch, json; from gcnn_study.process import portable; "
        "print(json.dumps([torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), portable.in_effect()]))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["DEFAULT", portable.THREADS, True]


def test_mode_asked_for_after_torch_is_not_claimed():
    """Set after `import torch`, the variables come too late: in_effect() says so, apply() refuses or warns."""
    env = _env_without_portable_mode()
    code = (
        "import torch, os, warnings, json; from gcnn_study.process import portable\n"
        "os.environ.update(portable.PORTABLE_ENV)\n"
        "try:\n    portable.apply(reexec=False)\n    raised = False\nexcept RuntimeError:\n    raised = True\n"
        "print(json.dumps([raised, portable.in_effect(), torch.backends.cpu.get_cpu_capability()]))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    raised, active, capability = json.loads(out)
    assert raised and not active


def test_apply_reexecs_a_process_that_loaded_torch_too_early():
    env = _env_without_portable_mode()
    code = (
        "import torch; from gcnn_study.process import portable; portable.apply(); "
        "print(portable.in_effect(), torch.backends.cpu.get_cpu_capability())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "DEFAULT"]


def test_processor_names_vendor_family_model_and_dispatch_flags():
    proc = provenance.processor()
    if not Path("/proc/cpuinfo").exists():
        pytest.skip("no /proc/cpuinfo")
    assert proc["vendor"] in ("GenuineIntel", "AuthenticAMD") or proc["vendor"] != "unknown"
    assert isinstance(proc["family"], int) and isinstance(proc["model"], int)
    assert set(proc["flags"]) <= set(provenance.DISPATCH_FLAGS)
    assert provenance.processor_key(proc).endswith(f"family {proc['family']} model {proc['model']})")
    assert "portable mode" in provenance.machine_key({**provenance.collect(), "portable_mode": True}, "cpu")


def test_launches_say_which_machine_trained_which_epochs():
    origin = provenance.collect(num_threads=1)
    cpu = provenance.machine_key(origin, "cpu")
    first = provenance.launch(origin, "cpu", "python -m gcnn_study.train model=cnn", 1)
    assert first["epochs"] == [1, 0] and first["machine"] == cpu and first["commit"] == origin["git"]["commit"]
    json.dumps(first)
    first["epochs"][1] = 15
    # a checkpoint that holds its launches gives copies of them; one from before they were recorded gives its
    # epochs and says the rest is not recorded
    state = {"epoch": 15, "launches": [first]}
    assert provenance.earlier_launches(state) == [first] and provenance.earlier_launches(state)[0] is not first
    (old,) = provenance.earlier_launches({"epoch": 15})
    assert old["epochs"] == [1, 15] and old["machine"] == old["commit"] == provenance.NOT_RECORDED
    assert provenance.earlier_launches({"epoch": 0}) == []
    # one machine (or unrecorded earlier epochs): the run's key is that machine's
    second = {**first, "epochs": [16, 40]}
    assert provenance.run_machine([first, second]) == cpu
    assert provenance.run_machine([old, second]) == cpu
    # two machines: both, with their epochs, so the run never shares a machine line with one-machine runs
    gpu = {**second, "machine": "cuda: NVIDIA H200, torch 2.14.1, CUDA 13.0, cuDNN 92400"}
    evaluated_only = {**first, "machine": gpu["machine"], "epochs": [41, 40]}
    mixed = provenance.run_machine([first, gpu, evaluated_only])
    assert mixed == f"mixed: {cpu} (epochs 1-15); {gpu['machine']} (epochs 16-40)"


ZEN4 = {"name": "AMD EPYC", "vendor": "AuthenticAMD", "family": 25, "model": 17}
ZEN5 = {**ZEN4, "family": 26, "model": 2}
LEGACY = "cpu: AMD EPYC, capability AVX512, 1 threads, portable mode off, torch 2.14.1+cu130"


def test_the_native_key_names_the_processor_generation():
    """Two machines both called "AMD EPYC" (Zen 4 and Zen 5) run other kernels: their keys differ."""
    base = {"torch": "2.14.1+cu130", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "num_threads": 1}
    zen4, zen5 = (provenance.machine_key({**base, "processor": p}) for p in (ZEN4, ZEN5))
    assert zen4 == LEGACY.replace("AMD EPYC,", "AMD EPYC (AuthenticAMD family 25 model 17),") and zen4 != zen5
    assert provenance.machine_key(base) == LEGACY  # no processor recorded: the name alone, as before


def test_records_written_before_the_key_named_the_processor_are_read_with_it():
    """A record's and its launches' legacy keys get the processor its provenance names; one without it says so;
    a record whose two launches ran on one key stays one machine, and keys of another form are left alone."""
    launch = {"machine": LEGACY, "epochs": [1, 10]}
    record = {
        "machine": LEGACY,
        "provenance": {"processor": ZEN5},
        "launches": [launch, {**launch, "epochs": [11, 30]}],
    }
    up = provenance.upgraded_machines(record)
    assert up["machine"] == LEGACY.replace("AMD EPYC,", "AMD EPYC (AuthenticAMD family 26 model 2),")
    assert [x["machine"] for x in up["launches"]] == [up["machine"]] * 2 and record["machine"] == LEGACY
    bare = provenance.upgraded_machines({"machine": LEGACY, "provenance": {}})
    assert bare["machine"].startswith("cpu: AMD EPYC (unknown, model not recorded), capability AVX512")
    xeon = LEGACY.replace("AMD EPYC", "Intel(R) Xeon(R) Processor")
    intel = {"name": "Intel(R) Xeon(R) Processor", "vendor": "GenuineIntel", "family": 6, "model": 167}
    assert (
        "Processor (GenuineIntel family 6 model 167), capability"
        in provenance.upgraded_machines({"machine": xeon, "provenance": {"processor": intel}})["machine"]
    )
    for other in ("cuda: NVIDIA H100, torch 2.14.1", "cpu: AMD EPYC (x), portable mode, 1 threads, torch 2"):
        assert provenance.upgraded_machines({"machine": other, "provenance": {"processor": ZEN5}})["machine"] == other
    two = {
        **record,
        "machine": "mixed: …",
        "launches": [launch, {**launch, "machine": LEGACY.replace("1 threads", "2 threads")}],
    }
    assert provenance.upgraded_machines(two)["machine"].startswith("mixed: cpu: AMD EPYC (AuthenticAMD family 26")
