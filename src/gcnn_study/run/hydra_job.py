"""What the trainer asks of Hydra: the callback that refuses an unusable results folder, this job's command line
and mode, and the one-line refusal of a sweep's job."""

from __future__ import annotations

import shlex
import sys

from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gcnn_study.run import rundir


class SweepJobRefused(CompactHydraException):
    """A user error inside a multirun job. Hydra prints a compact exception as its message alone, so the sweep
    ends with the job's overrides and this one line instead of a traceback."""


class CheckResultsDir(Callback):
    """Hydra callback (conf/hydra/default.yaml): Hydra creates each job's directory under paths.results_dir before
    the job runs, so an unusable folder is refused here, once, for a run and for a whole sweep. Hydra turns a
    callback's exception into a warning, hence the exit."""

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


def command() -> str | None:
    """The command line of this job as `python -m gcnn_study.train <its overrides>` (a sweep's job: its own
    values); None when the trainer is called from Python without Hydra's command line."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return " ".join(["python -m gcnn_study.train", *(shlex.quote(o) for o in HydraConfig.get().overrides.task)])


def mode() -> str | None:
    """RUN or MULTIRUN; None outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    return str(HydraConfig.get().mode.name) if HydraConfig.initialized() else None
