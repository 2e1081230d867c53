"""The checks a run passes before it writes anything, each refusing in one line that names the setting and what to
use instead: the config's rules, the device, the model against the data, the batch against the training set and
the memory left.
"""

from __future__ import annotations

import logging
import sys
from importlib.util import find_spec

import hydra
import torch
from omegaconf import DictConfig

from gcnn_study.config import validation
from gcnn_study.data import bundle
from gcnn_study.data.bundle import DataBundle, DataError
from gcnn_study.engine import NonFinite
from gcnn_study.process import runtime
from gcnn_study.reproduce import projection
from gcnn_study.run.rundir import RunDirError

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and what to use instead."""


#: The errors a user can fix, which the trainer prints as one line (a sweep's job: SweepJobRefused).
USER_ERRORS = (DataError, ConfigError, RunDirError, NonFinite)


def check_config(cfg: DictConfig) -> None:
    """The schemas' rules (gcnn_study.config.validation.validate), and the logger's package where it is installed."""
    problems = validation.validate(cfg)
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


def _installed(package: str) -> bool:
    """Importable, without importing it (an already imported module counts, a None entry blocks it)."""
    return sys.modules[package] is not None if package in sys.modules else find_spec(package) is not None


def device(name: str) -> torch.device:
    """trainer.device as a torch.device; ConfigError for CUDA on a machine without it."""
    try:
        return runtime.resolve_device(name)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def instantiate(node, what: str):
    """The object a config node describes (`dataset`, `model`); a user error inside it as itself, a ValueError as
    a ConfigError naming `what`, one line either way."""
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


def check_model_fits_data(cfg: DictConfig, model, data: DataBundle) -> None:
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


def check_batch(cfg: DictConfig, data: DataBundle, device: torch.device) -> None:
    """The batch is checked as the dataset is: one larger than the training set is refused (every epoch would be
    one step on the whole set), and so is one whose training step will not fit in the memory left, before the
    first step, in one line with the estimate (gcnn_study.reproduce.projection.training_memory_gib: the tensors autograd
    saves for one batch, counted on the meta device, nothing computed; on a GPU with the data it receives)."""
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


def warn_if_not_the_rows_model(cfg: DictConfig) -> None:
    """A run filed under a table's row (its run name) whose model the command line changed (`model=cnn
    model.group=p5`) is not that row's model: the table lists it as such and never averages it
    (gcnn_study.report.collect). Said here, once, with how to keep such a run apart (its own model.name)."""
    from hydra.core.hydra_config import HydraConfig

    from gcnn_study.config.specs import TABLES, table_of

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
