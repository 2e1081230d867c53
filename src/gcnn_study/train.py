"""Train one model on one dataset with one seed: `python -m gcnn_study.train experiment=table1 model=p4cnn seed=1`.

`train()` reads top to bottom: build the run, resume it from its checkpoint, fit the epochs left, evaluate and
record it. Around it, `run()` checks the run directory first (gcnn_study.run.rundir, gcnn_study.run.identity): a
finished
run with the same settings is skipped and a checkpoint of them resumed; other settings stop the run with one line,
and `trainer.force=true` moves whatever the directory holds to `previous/<time>/` and starts again, so nothing a run
wrote is ever lost. One process at a time works in a run directory (gcnn_study.run.lock). A run whose loss or outputs
become NaN or infinite ends with failed.json, not a result. A deadline (trainer.stop_at), SIGUSR1, Ctrl-C and
SIGTERM stop it with one line, its finished epochs saved for the same command to resume (gcnn_study.run.stopping).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from gcnn.models import count_parameters
from gcnn_study.config import layout, schema
from gcnn_study.config.validation import unknown_override
from gcnn_study.data.bundle import DataBundle
from gcnn_study.engine import evaluate_splits, metrics_of, per_image_rows, place, prepare, train_one_epoch, validate
from gcnn_study.measure import measure_run
from gcnn_study.process import runtime
from gcnn_study.report.figures.angles import recorded_sweep
from gcnn_study.report.figures.maps import figure_arrays
from gcnn_study.run import hydra_job, identity, preflight, provenance, records, rundir, stopping
from gcnn_study.run.divergence import divergence
from gcnn_study.run.lock import RunLock
from gcnn_study.run.preflight import USER_ERRORS, ConfigError
from gcnn_study.run.stopping import Interrupted, Paused
from gcnn_study.run.tracking import make_tracker

log = logging.getLogger("gcnn_study.train")


def main() -> None:
    """`python -m gcnn_study.train <overrides>` and `gcnn-train`: Hydra composes conf/ with the overrides of the
    command line and runs each job (one, or a sweep's) through `_job`."""
    schema.register()  # the schemas and resolvers conf/ refers to, before Hydra composes it
    typo = unknown_override(sys.argv[1:])  # `trainer.epoch=3`: gcnn's line, not Hydra's hint to add it with +
    if typo:
        print(f"error: {typo}", file=sys.stderr)
        sys.exit(1)
    _job()


@hydra.main(version_base="1.3", config_path=layout.CONF_DIR, config_name="train")
def _job(cfg: DictConfig) -> dict | None:
    try:
        with stopping.stop_signals():
            return run(cfg)
    except Paused as stop:
        print(f"paused: {stop}", file=sys.stderr)
        sys.exit(stopping.PAUSED_EXIT)
    except Interrupted as stop:  # a multirun stops here too: the same command resumes it
        print(f"interrupted: {stop}", file=sys.stderr)
        sys.exit(128 + stop.signum)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        if hydra_job.mode() == "MULTIRUN":  # the sweep runs its other jobs, then reports the first failure, exit 1
            raise hydra_job.SweepJobRefused(str(err)) from None
        sys.exit(1)


def run(cfg: DictConfig) -> dict:
    """Train and evaluate as `cfg` says, unless it is finished; returns the content of metrics.json."""
    try:
        return _run(cfg)
    except ConfigError:  # refused before it started: leave no directory behind (Hydra's records of it aside)
        rundir.remove_if_unused(Path(cfg.run_dir), Path(cfg.paths.results_dir))
        raise


def _run(cfg: DictConfig) -> dict:
    rundir.check_results_dir(cfg.paths.results_dir)  # as hydra_job.CheckResultsDir does on the command line
    preflight.check_config(cfg)
    run_dir = Path(cfg.run_dir)
    with RunLock(run_dir):  # from the first look at the directory to the last write
        finished = _finished(cfg, run_dir)
        if finished is not None:
            return finished
        saved = [0]  # epochs saved so far, for the line of an interrupted run
        try:
            return train(cfg, run_dir, saved)
        except (ConfigError, Paused):
            raise  # refused before the run started, or stopped in order with its epochs saved
        except KeyboardInterrupt as err:  # stopped, not failed: the table lists it as unfinished
            raise stopping.interrupted(err, run_dir, saved[0], int(cfg.trainer.epochs)) from None
        except BaseException as err:
            records.write_json(run_dir / "failed.json", {"error": f"{type(err).__name__}: {err}", "time": time.time()})
            raise


def _finished(cfg: DictConfig, run_dir: Path) -> dict | None:
    """The record of the run in `run_dir` when it is finished with the settings of `cfg` (it is skipped); None when
    it is to train: new, paused, or archived by trainer.force=true. RunDirError when it holds other settings."""
    if not rundir.has_results(run_dir):
        return None
    if cfg.trainer.force:
        log.info("trainer.force=true: earlier files of %s moved to %s", run_dir, rundir.archive(run_dir))
        return None
    finished = records.read_metrics(run_dir)
    # A finished run's identity is the one its record carries, not config.yaml, which can drift.
    proof = finished.get("settings_id") if finished else None
    identity.check_identity(run_dir, cfg, proof, "metrics.json")
    if finished is not None:
        log.info("%s is finished with these settings: skipped (trainer.force=true retrains it)", run_dir)
    return finished


def train(cfg: DictConfig, run_dir: Path, saved: list[int]) -> dict:
    """A run in four steps: build it, resume it from its checkpoint, fit the epochs left, evaluate and record it.
    `saved[0]`: the epochs saved so far, kept current for the line of an interrupted run."""
    built = _build(cfg, run_dir)
    start_epoch, history, launches = _resume(built, run_dir)
    saved[0] = start_epoch
    origin = provenance.collect(num_threads=torch.get_num_threads())
    launches.append(provenance.launch(origin, str(built.device), hydra_job.command(), start_epoch + 1))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    with make_tracker(cfg.logger, resolved, run_dir, tags=_tags(cfg, built.data)) as tracker:
        tracker.summary({"params": count_parameters(built.model), "synthetic": built.data.synthetic})
        _fit(cfg, built, start_epoch, history, launches, run_dir, tracker, saved)
        result = _record(cfg, built, history, launches, origin, run_dir, tracker)
    (run_dir / "failed.json").unlink(missing_ok=True)
    log.info("%s done: %s", run_dir, ", ".join(f"{k}={v:.4f}" for k, v in result["metrics"].items()))
    losses = [row["train_loss"] for row in history]
    diverged = divergence(losses, OmegaConf.to_container(cfg.model, resolve=True), result["metrics"])
    if diverged:  # finite, so recorded; the tables mark it by the same rule and never average it
        log.warning("%s %s (trainer.force=true); the tables list it as diverged, never as a result", run_dir, diverged)
    return result


@dataclasses.dataclass(frozen=True)
class Built:
    """What `_build` makes: the model, the module that steps it (itself, or compiled), its optimizer, the data."""

    model: torch.nn.Module
    step_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    data: DataBundle
    device: torch.device
    settings_id: str  # the identity of the run's settings (gcnn_study.run.identity.settings_id), carried by its records


def _build(cfg: DictConfig, run_dir: Path) -> Built:
    """Seed, pick the device and its switches, build the data and the model; once they are known to fit each
    other, the run directory gets its identity (config.yaml) and the data's description (data_info.json)."""
    tcfg = cfg.trainer
    runtime.seed_everything(int(cfg.seed))
    if tcfg.num_threads:
        torch.set_num_threads(int(tcfg.num_threads))
    device = preflight.device(tcfg.device)
    runtime.set_backends(device, bool(tcfg.deterministic), bool(tcfg.tf32), bool(tcfg.cudnn_benchmark))

    data = preflight.instantiate(cfg.dataset, "dataset")
    model = preflight.instantiate(cfg.model, "model")
    preflight.check_model_fits_data(cfg, model, data)
    preflight.check_batch(cfg, data, device)
    preflight.warn_if_not_the_rows_model(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").exists():  # the run's identity, written once it is known to be runnable
        records.write_config(run_dir / "config.yaml", cfg)
    data = place(data, device)
    if data.synthetic:
        log.warning("dataset %s is SYNTHETIC: its numbers show the pipeline works, not the study's results", data.name)
    step_model = prepare(model, tcfg, device)  # the same parameters; state_dict from `model`
    optimizer = torch.optim.Adam(model.parameters(), lr=float(tcfg.lr), weight_decay=float(tcfg.weight_decay))
    records.write_json(run_dir / "data_info.json", {"name": data.name, "synthetic": data.synthetic, **data.info})
    return Built(model, step_model, optimizer, data, device, identity.settings_id(cfg))


def _resume(built: Built, run_dir: Path) -> tuple[int, list[dict], list[dict]]:
    """(epochs done, their history rows, the launches that trained them): from the run's checkpoint, which also
    restores the model, the optimizer and torch's generator as they were after its last epoch; (0, [], []) for a
    new run."""
    state = records.load_checkpoint(run_dir, built.device)
    if state is None:
        return 0, [], []
    if state.get("settings_id", built.settings_id) != built.settings_id:  # checkpoints before settings_id lack it
        raise rundir.RunDirError(
            f"{run_dir / 'checkpoint.pt'} was trained with other settings (settings_id {state['settings_id']}) than "
            f"its config.yaml and this command ({built.settings_id}): the run is inconsistent; {rundir.FORCE}"
        )
    built.model.load_state_dict(state["model"])
    built.optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    log.info("resuming %s from epoch %d", run_dir, state["epoch"])
    return state["epoch"], state["history"], provenance.earlier_launches(state)


def _fit(cfg, built: Built, start_epoch: int, history: list[dict], launches: list[dict], run_dir: Path, tracker, saved):
    """Train the epochs from `start_epoch` on, appending each one's row to `history`, counting it in this launch
    (the last of `launches`) and saving a checkpoint after it; stop (Paused) before an epoch that would end after
    trainer.stop_at, projected from this launch's epochs (the run's before them until it has one), or once the
    launcher asked (gcnn_study.run.stopping)."""
    epochs = int(cfg.trainer.epochs)
    for row in history[tracker.logged_epochs(history) :]:  # a resumed run continues the same W&B curve
        tracker.log(row, step=row["epoch"])
    for epoch in range(start_epoch, epochs):
        recent = [r for r in history if r["epoch"] >= launches[-1]["epochs"][0]] or history
        stopping.check_deadline(cfg.trainer.stop_at, recent, epoch, epochs, built.data, run_dir)
        row = train_one_epoch(built.step_model, built.optimizer, built.data, cfg, epoch, built.device)
        row.update(validate(built.step_model, built.data, cfg.trainer, built.device))
        history.append(row)
        launches[-1]["epochs"][1] = epoch + 1
        tracker.log(row, step=row["epoch"])
        state = {
            "model": built.model.state_dict(),
            "optimizer": built.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch + 1,
            "history": history,
            "launches": launches,
            "settings_id": built.settings_id,
        }
        records.save_checkpoint(state, run_dir / "checkpoint.pt")
        saved[0] = epoch + 1


def _record(cfg, built: Built, history: list[dict], launches: list[dict], origin: dict, run_dir: Path, tracker) -> dict:
    """Evaluate the trained model, tell the tracker, and write history.csv and metrics.json (whose content it
    returns): a run with metrics.json is finished."""
    model, data, device, epochs = built.model, built.data, built.device, int(cfg.trainer.epochs)
    meters = evaluate_splits(built.step_model, data, cfg.trainer, device)
    metrics = metrics_of(meters, cfg.trainer)
    equivariance = measure_run(model, data.evals["test"][0], cfg.experiment_name, cfg.run_name, int(cfg.seed), device)
    angles = recorded_sweep(model, data, cfg.experiment_name, cfg.run_name, int(cfg.seed), device)
    tracker.summary(metrics)
    tracker.log({f"final/{k}": v for k, v in metrics.items()}, step=epochs)
    tracker.log_figures(lambda: _final_figures(model, data, angles, equivariance), step=epochs)
    result = {
        "experiment": cfg.experiment_name,
        "run": cfg.run_name,
        "model": cfg.model.name,
        "group": model.group.name if hasattr(model, "group") else "z2",
        "dataset": data.name,
        "synthetic": data.synthetic,
        "seed": int(cfg.seed),
        "settings_id": built.settings_id,  # proves the settings it trained with (identity.check_identity)
        "params": count_parameters(model),
        "epochs": epochs,
        "device": str(device),
        "train_seconds": round(sum(r["seconds"] for r in history), 3),
        "peak_memory_gib": round(runtime.peak_memory_gib(device), 3),  # of this process: since its last resume
        "metrics": metrics,
        "machine": provenance.run_machine(launches),  # this launch's machine_key(origin, device), unless mixed
        "provenance": origin,  # of the launch that evaluated it; `launches` says which trained which epochs
        "launches": launches,
    }
    records.write_rows(run_dir / "history.csv", history)
    records.write_json(run_dir / "metrics.json", result)
    # Measured while the model is here: git keeps this file, not the checkpoint, so a clone's equivariance report
    # reads it (gcnn_study.report.figures). It names the record it belongs to, as the report's rows do.
    rows = [{**r, "record": records.record_id(run_dir)} for r in equivariance]
    records.write_rows(run_dir / "equivariance.csv", rows)
    # The rest of what the reports need of the model, kept for the same reason: each image's result (paired tests)
    # and the arrays of Figures 1-3.
    records.write_rows(run_dir / "per_image.csv", per_image_rows(meters))
    records.write_arrays(run_dir / records.FIGURE_ARRAYS, figure_arrays(model, data))
    if angles:
        record = records.record_id(run_dir)
        records.write_rows(run_dir / records.ANGLES_RECORD, [{**r, "record": record} for r in angles])
    return result


# ----------------------------------------------------------------------------------------------- helpers
def _final_figures(model, data, angles: list[dict], equivariance: list[dict]) -> dict:
    """The trained model's figures for W&B (feature maps, accuracy vs angle, predictions, equivariance), the sweeps
    drawn from the rows measured for the run's records ([]: a segmentation run has no angle sweep)."""
    from gcnn_study.report.figures import run_figures  # matplotlib is imported only when a tracker wants the figures

    return run_figures(model, data, angles=angles or None, equivariance=equivariance)


def _tags(cfg, data) -> list[str]:
    """W&B tags: the seed (so W&B can group a table's runs over seeds) and synthetic data."""
    return [f"seed={int(cfg.seed)}", cfg.run_name] + (["synthetic"] if data.synthetic else [])


if __name__ == "__main__":
    # Run from the importable module, not from __main__: the joblib and submitit launchers pickle the task
    # function, and a function of __main__ is pickled by value, with every global it touches.
    from gcnn_study import train

    train.main()
