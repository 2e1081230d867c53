"""Bad settings through the real command line: exit status 1, one line naming the setting and its value,
no traceback, and no run directory left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import REPO, tiny

# The tiny profile cut to one batch, so that a bad setting wrongly accepted ends in a failed assertion, not a training.
TINY = list(tiny(epochs=1, limit_train_batches=1, limit_eval_batches=1))
CLS = ["experiment=table1", "model=cnn", "dataset=mnist_sample", *TINY]
SEG = ["experiment=table3", "dataset=ph2_synthetic", *TINY]
# (overrides, text the error line must contain): the setting and the value, as the user typed them.
BAD = [
    (CLS + ["trainer.epochs=-1"], "trainer.epochs=-1"),
    (CLS + ["trainer.epochs=0"], "trainer.epochs=0"),
    (CLS + ["trainer.batch_size=0"], "trainer.batch_size=0"),
    (CLS + ["trainer.eval_batch_size=-3"], "trainer.eval_batch_size=-3"),
    (CLS + ["trainer.lr=abc"], "trainer.lr=abc"),
    (CLS + ["trainer.lr=0"], "trainer.lr=0"),
    (CLS + ["trainer.weight_decay=-1"], "trainer.weight_decay=-1"),
    (CLS + ["trainer.limit_train_batches=0"], "trainer.limit_train_batches=0"),
    (CLS + ["trainer.num_threads=0"], "trainer.num_threads=0"),
    (CLS + ["trainer.device=gpu"], "trainer.device=gpu"),
    (CLS + ["trainer.shuffle=maybe"], "trainer.shuffle=maybe"),
    (CLS + ["trainer.progress=sometimes"], "trainer.progress=sometimes"),
    (CLS + ["seed=abc"], "seed=abc"),
    (CLS + ["seed=-1"], "seed=-1"),
    (CLS + ["logger=wandb", "logger.mode=sometimes"], "logger.mode=sometimes"),
    (CLS + ["model.group=q4"], "model.group=q4"),
    (CLS + ["model.group=p0"], "model.group=p0"),
    (CLS + ["model.channels=[8,0,8,8,8]"], "model.channels=[8, 0, 8, 8, 8]"),
    (CLS + ["model.kernel_size=2"], "model.kernel_size=2"),
    (CLS + ["model.dropout=1.5"], "model.dropout=1.5"),
    (CLS + ["model.filter_interpolation=cubic"], "model.filter_interpolation=cubic"),
    (CLS + ["dataset.max_train=0"], "dataset.max_train=0"),
    (CLS + ["dataset.transformed_flip_p=2"], "dataset.transformed_flip_p=2"),
    (SEG + ["dataset.size=100"], "dataset.size=100"),
    (SEG + ["model.decoder=sideways"], "model.decoder=sideways"),
    # keys that no schema knows: `+` lets them past Hydra, the schemas refuse them naming the closest key
    (CLS + ["+trainer.epoch=3"], "trainer.epoch: no such setting; the closest is trainer.epochs"),
    (CLS + ["+seeds=3"], "seeds: no such setting; the closest is seed"),
    (CLS + ["+model.some_option=1"], "model.some_option: no such setting"),
    (CLS + ["trainer.lr=inf"], "trainer.lr=inf: must be a finite number"),
    # the same typo without `+`: gcnn's line, not Hydra's hint to add it (`+trainer.epoch=3`)
    (CLS + ["trainer.epoch=3"], "trainer.epoch: no such setting; the closest is trainer.epochs"),
    # a batch the data cannot fill: every epoch one step on the whole set (the 4,000 sample digits)
    (CLS + ["trainer.batch_size=100000000"], "trainer.batch_size=100000000 is larger than the training set"),
    (CLS + ["dataset.pad_to=1000"], "dataset.pad_to=1000: must be <= 128"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every bad command, run once (two at a time: each starts a Python with torch)."""
    root = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HYDRA_FULL_ERROR": ""}

    def launch(i_case):
        i, (overrides, _) = i_case
        results = root / f"case{i}"
        quiet = [] if any(o.startswith("logger") for o in overrides) else ["logger=none"]
        cmd = [
            sys.executable,
            "-m",
            "gcnn_study.train",
            *overrides,
            *quiet,
            f"paths.results_dir={results}",
            f"paths.data_dir={root / 'data'}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=root)
        return proc, results

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(launch, enumerate(BAD)))


@pytest.mark.parametrize("case", range(len(BAD)), ids=[b[1] for b in BAD])
def test_a_bad_setting_is_one_line_exit_1_and_no_run_directory(outcomes, case):
    proc, results = outcomes[case]
    expected = BAD[case][1]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    naming = [line for line in proc.stderr.splitlines() if expected in line]
    assert naming, f"no line names {expected!r}:\n{proc.stderr}"
    own_errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(own_errors) <= 1
    assert not (results / "runs").exists(), "a refused run left a directory behind"


def test_the_error_says_what_is_allowed(outcomes):
    messages = {BAD[i][1]: outcomes[i][0].stderr for i in range(len(BAD))}
    assert "must be >= 1" in messages["trainer.epochs=-1"]
    assert "must be > 0" in messages["trainer.lr=0"]
    assert "could not be converted to Float" in messages["trainer.lr=abc"]  # Hydra's own message, at compose time
    assert "auto, cpu, cuda" in messages["trainer.device=gpu"]
    assert "auto, online, offline, disabled" in messages["logger.mode=sometimes"]
    assert "pN" in messages["model.group=q4"]


def test_a_typo_without_plus_is_gcnns_one_line_before_hydras_hint(outcomes):
    """`trainer.epoch=3`: Hydra would answer `To append to your config use +trainer.epoch=3`, the wrong fix."""
    proc, _ = outcomes[[b[0][-1] for b in BAD].index("trainer.epoch=3")]
    assert proc.stderr.strip().splitlines() == [
        "error: trainer.epoch: no such setting; the closest is trainer.epochs "
        "(every setting of trainer is in gcnn_study.config.schema.TrainerConf)"
    ]


def test_a_batch_larger_than_the_training_set_is_one_line_naming_the_set(outcomes):
    proc, _ = outcomes[[b[0][-1] for b in BAD].index("trainer.batch_size=100000000")]
    assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")] == [
        "error: trainer.batch_size=100000000 is larger than the training set (4,000 images of dataset=mnist_sample): "
        "every epoch would be one step on the whole set; choose trainer.batch_size <= 4000"
    ]


def test_a_bad_setting_in_a_multirun_refuses_every_job_and_ends_without_a_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HYDRA_FULL_ERROR": ""}
    cmd = [sys.executable, "-m", "gcnn_study.train", "--multirun", *CLS, "model=cnn,p4cnn", "trainer.epochs=-1"]
    cmd += ["logger=none", f"paths.results_dir={tmp_path / 'results'}", f"paths.data_dir={tmp_path / 'data'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    own = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert own == ["error: trainer.epochs=-1: must be >= 1"] * 2  # each job refused, the sweep went on
    assert "Error executing job with overrides" in proc.stderr  # Hydra's summary names the first failed job
    left = [p for p in (tmp_path / "results").rglob("*") if p.is_file() and p.name != "multirun.yaml"]
    assert left == []  # no run directory; only Hydra's record of the sweep itself


def test_a_refused_sweep_job_survives_pickling_for_process_launchers():
    import pickle

    from gcnn_study.run.hydra_job import SweepJobRefused

    err = pickle.loads(pickle.dumps(SweepJobRefused("trainer.epochs=-1: must be >= 1")))
    assert isinstance(err, SweepJobRefused) and str(err) == "trainer.epochs=-1: must be >= 1"


ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HYDRA_FULL_ERROR": ""}


def _gcnn(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=ENV, timeout=300, cwd=cwd
    )


def test_schema_entries_are_not_options_of_their_groups(tmp_path):
    helped = _gcnn("gcnn_study.train", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "model: cnn," in helped.stdout and "_schema" not in helped.stdout
    for choice, group in (("model=classifier_schema", "model"), ("dataset=mnist_schema", "dataset")):
        proc = _gcnn("gcnn_study.train", *CLS, choice, "logger=none", f"paths.results_dir={tmp_path}", cwd=tmp_path)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert f"Could not find '{group}/{choice.split('=')[1]}'" in proc.stderr
        assert "is not set" not in proc.stderr  # not the misleading "dataset.data_dir is not set"


@pytest.fixture(scope="module")
def afile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("file") / "a_file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("where", ["/proc/x", "file"])
@pytest.mark.parametrize("mode", [[], ["--multirun"]], ids=["run", "multirun"])
def test_an_unusable_results_dir_is_one_line_before_anything_runs(where, mode, afile, tmp_path):
    results = str(afile / "x") if where == "file" else where
    proc = _gcnn("gcnn_study.train", *mode, *CLS, "logger=none", f"paths.results_dir={results}", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: paths.results_dir={results} cannot be created "
        f"({'Not a directory' if where == 'file' else 'No such file or directory'}): choose a folder you can write to"
    ]


@pytest.mark.parametrize("mode", [[], ["--multirun"]], ids=["run", "multirun"])
def test_an_empty_results_dir_is_one_line_and_files_nothing_where_it_ran(mode, tmp_path):
    """`paths.results_dir=$RESULTS` with RESULTS unset: not ./runs/... of whatever folder the command ran from."""
    proc = _gcnn("gcnn_study.train", *mode, *CLS, "logger=none", "paths.results_dir=", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: paths.results_dir= is empty (an unset shell variable?): give the folder for the runs, "
        "e.g. paths.results_dir=results"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["", "  ", None])
def test_an_empty_or_blank_results_dir_is_refused_from_python_too(value, tmp_path, monkeypatch):
    from gcnn_study.run.rundir import RunDirError, check_results_dir

    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunDirError, match=r"^paths\.results_dir=\s* is empty \(an unset shell variable\?\)"):
        check_results_dir(value)
    assert list(tmp_path.iterdir()) == []


def test_the_aggregator_refuses_a_missing_or_unusable_folder_and_bad_seeds(afile, tmp_path):
    missing = tmp_path / "typo"
    for folder in (missing, afile / "x", afile):
        proc = _gcnn("gcnn_study.report.tables", "table1", "--results-dir", str(folder), cwd=tmp_path)
        assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
            f"error: {folder} is not a folder: give --results-dir the paths.results_dir of the runs"
        ]
    assert not missing.exists()  # no folder, table or claims.md made up for a typo
    proc = _gcnn("gcnn_study.report.tables", "table1", "--results-dir", str(tmp_path), "--seeds", "abc", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: --seeds='abc' must be comma-separated integers >= 0, e.g. 0,1,2"
    ]
    assert not (tmp_path / "table1.md").exists()


def test_make_table1_with_bad_seeds_ends_without_a_traceback(tmp_path):
    cmd = ["make", "--no-print-directory", "-o", "py-check", "table1", f"PY={sys.executable}", "SEEDS=abc"]
    cmd += [f"RESULTS={tmp_path / 'results'}", "ARGS=dataset=mnist_sample logger=none"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, cwd=REPO)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    assert "error: --seeds='abc' must be comma-separated integers" in proc.stderr
