"""Train one model on one dataset with one seed: `python -m gcnn_study.train experiment=table1 model=p4cnn seed=1`.

Every run owns `results/runs/<experiment>/<run>/seed=<seed>/` (see `gcnn_study.rundir`). The settings are checked
before anything is written; a checkpoint is written after every epoch and the same command resumes from it;
a finished run is skipped. Both only when the stored settings equal the requested ones; otherwise the run
stops with one line. `trainer.force=true` moves whatever the directory holds to `previous/<time>/` and
starts again, so nothing a run wrote is ever lost. One process at a time works in a run directory
(`rundir.RunLock`). A run whose loss or outputs become NaN or infinite ends with failed.json, not a result;
Ctrl-C and SIGTERM stop it with one line, its finished epochs saved for the same command to resume.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import hydra
import torch
from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gcnn.models import count_parameters
from gcnn_study import layout, projection, provenance, rundir, runtime, schema
from gcnn_study.data import bundle
from gcnn_study.data.bundle import DataBundle, DataError
from gcnn_study.divergence import divergence
from gcnn_study.engine import NonFinite, evaluate, evaluate_splits, metrics_of, per_image_rows, prepare, train_one_epoch
from gcnn_study.measure import measure_run
from gcnn_study.report.figures.maps import figure_arrays
from gcnn_study.tracking import make_tracker

log = logging.getLogger("gcnn_study.train")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and what to use instead."""


USER_ERRORS = (DataError, ConfigError, rundir.RunDirError, NonFinite)
#: Exit status of a run that stopped at trainer.stop_at with epochs left (EX_TEMPFAIL: try again later).
PAUSED_EXIT = rundir.PAUSED_EXIT


class Paused(Exception):
    """The next epoch would end after trainer.stop_at: the run stops with its last epoch saved."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, or SIGTERM (a cluster's time limit): the run stops with its finished epochs saved."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def main() -> None:
    """`python -m gcnn_study.train <overrides>` and `gcnn-train`: Hydra composes conf/ with the overrides of the command
    line and runs each job (one, or a sweep's) through `_job`."""
    schema.register()  # the schemas and resolvers conf/ refers to, before Hydra composes it
    typo = schema.unknown_override(sys.argv[1:])  # `trainer.epoch=3`: gcnn's line, not Hydra's hint to add it with +
    if typo:
        print(f"error: {typo}", file=sys.stderr)
        sys.exit(1)
    _job()


@hydra.main(version_base="1.3", config_path=layout.CONF_DIR, config_name="train")
def _job(cfg: DictConfig) -> dict | None:
    try:
        with _sigterm_interrupts():
            return run(cfg)
    except Paused as stop:
        print(f"paused: {stop}", file=sys.stderr)
        sys.exit(PAUSED_EXIT)
    except Interrupted as stop:  # a multirun stops here too: the same command resumes it
        print(f"interrupted: {stop}", file=sys.stderr)
        sys.exit(128 + stop.signum)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        if _hydra_mode() == "MULTIRUN":  # the sweep runs its other jobs, then reports the first failure, exit 1
            raise SweepJobRefused(str(err)) from None
        sys.exit(1)


class SweepJobRefused(CompactHydraException):
    """A user error inside a multirun job. Hydra prints a compact exception as its message alone, so the
    sweep ends with the job's overrides and this one line instead of a traceback."""


class CheckResultsDir(Callback):
    """Hydra callback (conf/hydra/default.yaml): Hydra creates each job's directory under paths.results_dir
    before the job runs, so an unusable folder is refused here, once, for a run and for a whole sweep. Hydra
    turns a callback's exception into a warning, hence the exit."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check(config)

    @staticmethod
    def _check(config: DictConfig) -> None:
        try:
            rundir.check_results_dir(config.paths.results_dir)
        except rundir.RunDirError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, like Ctrl-C's KeyboardInterrupt."""


@contextmanager
def _sigterm_interrupts():
    """SIGTERM (a scheduler's time limit, `kill`) stops the run as Ctrl-C does. Only where SIGTERM still has its
    default action: a launcher that handles it itself (submitit: requeue) keeps its handler."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum, frame):
        raise _Terminated()

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _installed(package: str) -> bool:
    """Importable, without importing it (an already imported module counts, a None entry blocks it)."""
    return sys.modules[package] is not None if package in sys.modules else find_spec(package) is not None


def _command() -> str | None:
    """The command line of this job as `python -m gcnn_study.train <its overrides>` (a sweep's job: its own values);
    None when `run` is called from Python without Hydra's command line."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return " ".join(["python -m gcnn_study.train", *(shlex.quote(o) for o in HydraConfig.get().overrides.task)])


def _hydra_mode() -> str | None:
    from hydra.core.hydra_config import HydraConfig

    return str(HydraConfig.get().mode.name) if HydraConfig.initialized() else None


def run(cfg: DictConfig) -> dict:
    """Train and evaluate as `cfg` says; returns the content of metrics.json."""
    try:
        return _run(cfg)
    except ConfigError:  # refused before it started: leave no directory behind (Hydra's records of it aside)
        rundir.remove_if_unused(Path(cfg.run_dir), Path(cfg.paths.results_dir))
        raise


def _run(cfg: DictConfig) -> dict:
    rundir.check_results_dir(cfg.paths.results_dir)  # as CheckResultsDir does on the command line
    problems = schema.validate(cfg)
    if problems:
        raise ConfigError(
            problems[0]
            if len(problems) == 1
            else f"{problems[0]} (and {len(problems) - 1} more: " + "; ".join(problems[1:]) + ")"
        )
    if cfg.logger.name == "wandb" and not _installed("wandb"):
        raise ConfigError(  # a slim offline install (make wheelhouse SKIP=wandb) leaves it out
            f"logger=wandb (logger.mode={cfg.logger.get('mode')}) needs the wandb package, which is not installed: "
            "install it (pip install wandb) or run with logger=none"
        )
    run_dir = Path(cfg.run_dir)
    with rundir.RunLock(run_dir):  # from the first look at the directory to the last write
        if rundir.has_results(run_dir):
            if cfg.trainer.force:
                log.info("trainer.force=true: earlier files of %s moved to %s", run_dir, rundir.archive(run_dir))
            else:
                finished = rundir.read_metrics(run_dir)
                # A finished run's identity is the one its record carries, not config.yaml, which can drift.
                proof = finished.get("settings_id") if finished else None
                rundir.check_identity(run_dir, cfg, proof, "metrics.json")
                if finished is not None:
                    log.info("%s is finished with these settings: skipped (trainer.force=true retrains it)", run_dir)
                    return finished
        saved = [0]  # epochs saved so far, for the line of an interrupted run
        try:
            return _train(cfg, run_dir, saved)
        except (ConfigError, Paused):
            raise  # refused before the run started, or stopped in order with its epochs saved
        except KeyboardInterrupt as err:  # stopped, not failed: the table lists it as unfinished
            raise _interrupted(err, run_dir, saved[0], int(cfg.trainer.epochs)) from None
        except BaseException as err:
            rundir.write_json(run_dir / "failed.json", {"error": f"{type(err).__name__}: {err}", "time": time.time()})
            raise


def _interrupted(err: KeyboardInterrupt, run_dir: Path, saved: int, epochs: int) -> Interrupted:
    signum = signal.SIGTERM if isinstance(err, _Terminated) else signal.SIGINT
    where = f"at epoch {saved + 1}/{epochs}" if saved < epochs else "in its final evaluation"
    kept = (
        f"epochs 1-{saved} are saved and the same command resumes from them"
        if saved
        else ("no epoch was finished; the same command starts it again")
    )
    return Interrupted(f"{run_dir} stopped by {signal.Signals(signum).name} {where}: {kept}", signum)


def _train(cfg: DictConfig, run_dir: Path, saved: list[int]) -> dict:
    """A run in four steps: build it, resume it from its checkpoint, fit the epochs left, evaluate and record it.
    `saved[0]`: the epochs saved so far, kept current for the line of an interrupted run."""
    built = _build(cfg, run_dir)
    start_epoch, history, launches = _resume(built, run_dir)
    saved[0] = start_epoch
    origin = provenance.collect(num_threads=torch.get_num_threads())
    launches.append(provenance.launch(origin, str(built.device), _command(), start_epoch + 1))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    with make_tracker(cfg.logger, resolved, run_dir, tags=_tags(cfg, built.data)) as tracker:
        tracker.summary({"params": count_parameters(built.model), "synthetic": built.data.synthetic})
        _fit(cfg, built, start_epoch, history, launches, run_dir, tracker, saved)
        origin["num_threads"] = torch.get_num_threads()  # the evaluation's, if `make reproduce` gave it more
        result = _record(cfg, built, history, launches, origin, run_dir, tracker)
    (run_dir / "failed.json").unlink(missing_ok=True)
    (run_dir / rundir.THREADS_REQUEST).unlink(missing_ok=True)  # one that came during the final evaluation
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
    settings_id: str  # the identity of the run's settings (gcnn_study.rundir.settings_id), carried by its records


def _build(cfg: DictConfig, run_dir: Path) -> Built:
    """Seed, pick the device and its switches, build the data and the model; once they are known to fit each
    other, the run directory gets its identity (config.yaml) and the data's description (data_info.json)."""
    tcfg = cfg.trainer
    runtime.seed_everything(int(cfg.seed))
    if tcfg.num_threads:
        torch.set_num_threads(int(tcfg.num_threads))
    device = _device(tcfg.device)
    runtime.set_backends(device, bool(tcfg.deterministic), bool(tcfg.tf32), bool(tcfg.cudnn_benchmark))

    data = _instantiate(cfg.dataset, "dataset")
    model = _instantiate(cfg.model, "model")
    _check_model_fits_data(cfg, model, data)
    _check_batch(cfg, data, device)
    _warn_if_not_the_rows_model(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").exists():  # the run's identity, written once it is known to be runnable
        rundir.write_config(run_dir / "config.yaml", cfg)
    data = _place(data, device)
    if data.synthetic:
        log.warning("dataset %s is SYNTHETIC: its numbers show the pipeline works, not the study's results", data.name)
    step_model = prepare(model, tcfg, device)  # the same parameters; state_dict from `model`
    optimizer = torch.optim.Adam(model.parameters(), lr=float(tcfg.lr), weight_decay=float(tcfg.weight_decay))
    rundir.write_json(run_dir / "data_info.json", {"name": data.name, "synthetic": data.synthetic, **data.info})
    return Built(model, step_model, optimizer, data, device, rundir.settings_id(cfg))


def _resume(built: Built, run_dir: Path) -> tuple[int, list[dict], list[dict]]:
    """(epochs done, their history rows, the launches that trained them): from the run's checkpoint, which also
    restores the model, the optimizer and torch's generator as they were after its last epoch; (0, [], []) for a
    new run."""
    state = rundir.load_checkpoint(run_dir, built.device)
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
    trainer.stop_at, projected from this launch's epochs (the run's before them until it has one)."""
    epochs = int(cfg.trainer.epochs)
    for row in history[tracker.logged_epochs(history) :]:  # a resumed run continues the same W&B curve
        tracker.log(row, step=row["epoch"])
    for epoch in range(start_epoch, epochs):
        _take_thread_request(run_dir, launches, built.device, epoch)
        recent = [r for r in history if r["epoch"] >= launches[-1]["epochs"][0]] or history
        _check_deadline(cfg.trainer.stop_at, recent, epoch, epochs, built.data, run_dir)
        row = train_one_epoch(built.step_model, built.optimizer, built.data, cfg, epoch, built.device)
        row.update(_validate(cfg, built))
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
        rundir.save_checkpoint(state, run_dir / "checkpoint.pt")
        saved[0] = epoch + 1


def _record(cfg, built: Built, history: list[dict], launches: list[dict], origin: dict, run_dir: Path, tracker) -> dict:
    """Evaluate the trained model, tell the tracker, and write history.csv and metrics.json (whose content it
    returns): a run with metrics.json is finished."""
    model, data, device, epochs = built.model, built.data, built.device, int(cfg.trainer.epochs)
    meters = evaluate_splits(built.step_model, data, cfg.trainer, device)
    metrics = metrics_of(meters, cfg.trainer)
    equivariance = measure_run(model, data.evals["test"][0], cfg.experiment_name, cfg.run_name, int(cfg.seed), device)
    tracker.summary(metrics)
    tracker.log({f"final/{k}": v for k, v in metrics.items()}, step=epochs)
    tracker.log_figures(lambda: _final_figures(model, data), step=epochs)
    result = {
        "experiment": cfg.experiment_name,
        "run": cfg.run_name,
        "model": cfg.model.name,
        "group": model.group.name if hasattr(model, "group") else "z2",
        "dataset": data.name,
        "synthetic": data.synthetic,
        "seed": int(cfg.seed),
        "settings_id": built.settings_id,  # proves the settings it was trained with (gcnn_study.rundir.check_identity)
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
    rundir.write_rows(run_dir / "history.csv", history)
    rundir.write_json(run_dir / "metrics.json", result)
    # Measured while the model is here: git keeps this file, not the checkpoint, so a clone's equivariance report
    # reads it (gcnn_study.report.figures). It names the record it belongs to, as the report's rows do.
    rows = [{**r, "record": rundir.record_id(run_dir)} for r in equivariance]
    rundir.write_rows(run_dir / "equivariance.csv", rows)
    # The rest of what the reports need of the model, kept for the same reason: each image's result (paired tests)
    # and the arrays of Figures 1-3.
    rundir.write_rows(run_dir / "per_image.csv", per_image_rows(meters))
    rundir.write_arrays(run_dir / rundir.FIGURE_ARRAYS, figure_arrays(model, data))
    return result


# ----------------------------------------------------------------------------------------------- helpers
def _validate(cfg, built: Built) -> dict:
    """The epoch's scores on the validation split, when the data has one (PH2's 50 images), so that a run's curve
    shows whether it converged; {} otherwise. Eval mode and no gradient: the training is the same bits with it."""
    if "val" not in built.data.evals:
        return {}
    start = time.perf_counter()
    scores = evaluate(built.step_model, built.data, cfg.trainer, built.device, splits=("val",))
    return {**scores, "val_seconds": time.perf_counter() - start}


def _take_thread_request(run_dir: Path, launches: list[dict], device: torch.device, epoch: int) -> None:
    """Before epoch `epoch`: the thread count `make reproduce` asked for once the runs beside this one ended
    (gcnn_study.rundir.request_threads). The epochs from here on get a launch entry of their own, since the machine
    key names the thread count; the thread count does not define the run (gcnn_study.rundir.IGNORED)."""
    threads = rundir.take_thread_request(run_dir)
    if threads is None or threads == torch.get_num_threads():
        return
    torch.set_num_threads(threads)
    origin = provenance.collect(num_threads=threads)
    entry = provenance.launch(origin, str(device), launches[-1]["command"], epoch + 1)
    first, last = launches[-1]["epochs"]
    if last < first:  # no epoch of this launch yet: it simply runs on the new count
        entry["started"] = launches[-1]["started"]
        launches[-1] = entry
    else:
        launches.append(entry)
    log.info("%s: %d threads from epoch %d on (the runs beside it have ended)", run_dir, threads, epoch + 1)


def _check_deadline(stop_at, history: list[dict], epoch: int, epochs: int, data: DataBundle, run_dir: Path) -> None:
    """Raise Paused when epoch `epoch` (and, for the last one, the final evaluation) is projected to end after
    `stop_at`, from the mean time of the epochs in `history`. The first epoch of a run always starts: whoever
    set the deadline projected it (gcnn_study.reproduce)."""
    per_epoch = projection.epoch_seconds(history)
    if stop_at is None or per_epoch is None:
        return
    need = per_epoch
    if epoch == epochs - 1:
        evaluated = sum(len(x) for x, _ in data.evals.values())
        evaluated += projection.equivariance_images(data.task, len(data.evals["test"][0]))
        need += projection.eval_seconds(history, len(data.train[0]), evaluated)
    if time.time() + need > float(stop_at):
        raise Paused(
            f"{run_dir} stopped before epoch {epoch + 1}/{epochs} (about {need / 60:.0f} min) to end before "
            f"trainer.stop_at; epochs 1-{epoch} are saved and the same command resumes from them"
        )


def _device(name: str) -> torch.device:
    try:
        return runtime.resolve_device(name)
    except ValueError as err:  # CUDA asked for on a machine without it
        raise ConfigError(str(err)) from None


def _check_model_fits_data(cfg: DictConfig, model, data: DataBundle) -> None:
    """The model's task is the data's, and it takes the data's image size: refused here, in one line, not inside
    the first forward pass."""
    if model.task != data.task:
        raise ConfigError(
            f"model={cfg.model.name} is a {model.task} model but dataset={data.name} holds {data.task} "
            f"data; choose a {model.task} dataset or model"
        )
    if hasattr(model, "check_input_size"):
        try:
            model.check_input_size(*data.train[0].shape[-2:])
        except ValueError as err:
            raise ConfigError(str(err)) from None


def _check_batch(cfg: DictConfig, data: DataBundle, device: torch.device) -> None:
    """The batch is checked as the dataset is: one larger than the training set is refused (every epoch would be
    one step on the whole set), and so is one whose training step will not fit in the memory left, before the first
    step, in one line with the estimate (gcnn_study.projection.training_memory_gib: the tensors autograd saves for one
    batch, counted on the meta device, nothing computed; on a GPU with the data it receives)."""
    batch, n_train = int(cfg.trainer.batch_size), len(data.train[0])
    if batch > n_train:
        raise ConfigError(
            f"trainer.batch_size={batch} is larger than the training set ({n_train:,} images of dataset={data.name}): "
            f"every epoch would be one step on the whole set; choose trainer.batch_size <= {n_train}"
        )
    try:
        need = (projection.training_memory_gib(cfg) - projection.PROCESS_GIB) * 2**30  # this process is loaded
    except Exception as err:  # an estimate that cannot be made refuses nothing
        log.debug("no memory estimate of one training step (%s: %s)", type(err).__name__, err)
        return
    free, where = _free_memory(device)
    if device.type == "cuda":
        moved = [data.evals.values(), [] if data.augment is not None else [data.train]]
        need += sum(t.numel() * t.element_size() for group in moved for split in group for t in split)
    if free is not None and need > free:
        raise ConfigError(
            f"trainer.batch_size={batch} needs about {_size(need)} for one training step of model={cfg.model.name} on "
            f"{tuple(data.train[0].shape[1:])} images, more than the {_size(free)} {where} has free: choose a smaller "
            "trainer.batch_size"
        )


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 / 10 else f"{max(nbytes, 0) / 2**20:.0f} MiB"


def _free_memory(device: torch.device) -> tuple[int | None, str]:
    """(bytes still free where the training step runs, where that is): the GPU's free memory, or the machine's
    (gcnn_study.data.bundle.available_memory, within a cgroup's limit); None where it is not known (mps)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0], str(device)
    if device.type == "cpu":
        return bundle.available_memory(), "this machine"
    return None, str(device)


def _warn_if_not_the_rows_model(cfg: DictConfig) -> None:
    """A run filed under a table's row (its run name) whose model the command line changed (`model=cnn
    model.group=p5`) is not that row's model: the table lists it as such and never averages it
    (gcnn_study.report.tables). Said
    here, once, with how to keep such a run apart (its own model.name)."""
    from hydra.core.hydra_config import HydraConfig

    from gcnn_study.specs import TABLES, table_of

    table = table_of(str(cfg.experiment_name))
    if table is None or cfg.run_name not in TABLES[table].runs or not HydraConfig.initialized():
        return
    changed = [o for o in HydraConfig.get().overrides.task if o.lstrip("+~").startswith("model.")]
    if changed:
        log.warning(
            "%s changes the model of %s's %s row: the table lists this run as not the row's model and never "
            "averages it; give it its own name (model.name=...) to keep it apart",
            " ".join(changed),
            table,
            cfg.run_name,
        )


def _place(data: DataBundle, device: torch.device) -> DataBundle:
    """On a GPU, move every split there once (MNIST is 0.3 GB, PH2 at 257² 0.2 GB), so a batch is a slice on
    the device. A training split augmented by albumentations stays on the CPU, where the augmentation runs."""
    if device.type == "cpu":
        return data
    move = lambda split: tuple(t.to(device) for t in split)  # noqa: E731
    train = data.train if data.augment is not None else move(data.train)
    return dataclasses.replace(data, train=train, evals={k: move(v) for k, v in data.evals.items()})


def _final_figures(model, data) -> dict:
    """The trained model's figures for W&B (feature maps, accuracy vs angle, predictions, equivariance)."""
    from gcnn_study.report.figures import run_figures  # matplotlib is imported only when a tracker wants the figures

    return run_figures(model, data)


def _tags(cfg, data) -> list[str]:
    """W&B tags: the seed (so W&B can group a table's runs over seeds) and synthetic data."""
    return [f"seed={int(cfg.seed)}", cfg.run_name] + (["synthetic"] if data.synthetic else [])


def _instantiate(node, what: str):
    try:
        return hydra.utils.instantiate(node)
    except Exception as err:  # Hydra wraps errors raised by the target; show ours, one line
        cause = err
        while cause.__cause__ is not None and not isinstance(cause, USER_ERRORS):
            cause = cause.__cause__
        if isinstance(cause, USER_ERRORS):
            raise cause from None
        if isinstance(cause, ValueError):
            raise ConfigError(f"{what}: {cause}") from None
        raise


if __name__ == "__main__":
    # Run from the importable module, not from __main__: the joblib and submitit launchers pickle the task
    # function, and a function of __main__ is pickled by value, with every global it touches.
    from gcnn_study import train

    train.main()
