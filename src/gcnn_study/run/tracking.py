"""Experiment tracking: Weights & Biases when asked for (imported lazily), nothing otherwise.

The tracker is used as a context manager so that the W&B run is always finished, also when training
raises: in a Hydra multirun every job then gets its own run. A run directory keeps its W&B id in
`wandb_id.txt`, so a resumed run continues the same W&B run (`resume="allow"`) instead of starting another.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

TRACKERS = ("wandb", "none")  # logger.name
MODES = ("auto", "online", "offline", "disabled")  # logger.mode; auto is online with an API key, offline without


class NullTracker:
    mode = "none"

    def log(self, values: dict, step: int | None = None) -> None:
        pass

    def summary(self, values: dict) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass

    def log_figures(self, make_figures, step: int | None = None) -> None:
        """Log the figures `make_figures()` draws ({name: matplotlib Figure}); a null tracker draws nothing."""

    def logged_epochs(self, history: list[dict]) -> int:
        """How many rows of `history` the tracker already holds (they are not logged again)."""
        return len(history)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.finish(0 if exc_type is None else 1)
        return False


class WandbTracker(NullTracker):
    def __init__(self, cfg, config: dict, run_dir: Path, tags: list[str] = ()):
        import wandb  # lazy: importing wandb costs seconds and is not needed with logger=none

        self._wandb = wandb
        self.mode = _resolve_mode(cfg["mode"])
        os.environ.setdefault("WANDB_SILENT", "true")
        id_file = Path(run_dir) / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            id=run_id,
            resume="allow",
            project=cfg["project"],
            entity=cfg.get("entity"),
            group=cfg.get("group"),
            name=cfg.get("run_name"),
            tags=[*(cfg.get("tags") or []), *tags],
            config=config,
            dir=str(run_dir),
            mode=self.mode,
            reinit="finish_previous",
        )
        self._finished = False

    def log(self, values: dict, step: int | None = None) -> None:
        self.run.log(values, step=step)

    def log_figures(self, make_figures, step: int | None = None) -> None:
        import matplotlib.pyplot as plt

        figures = make_figures()
        self.run.log({f"figures/{k}": self._wandb.Image(fig) for k, fig in figures.items()}, step=step)
        for fig in figures.values():
            plt.close(fig)

    def logged_epochs(self, history: list[dict]) -> int:
        # A resumed W&B run already holds the epochs before its current step; a new one holds none.
        if not getattr(self.run, "resumed", False):
            return 0
        return sum(1 for row in history if row["epoch"] < getattr(self.run, "step", 0))

    def summary(self, values: dict) -> None:
        for key, value in values.items():
            self.run.summary[key] = value

    def finish(self, exit_code: int = 0) -> None:
        if not self._finished:
            self._finished = True
            self.run.finish(exit_code=exit_code)


def _resolve_mode(mode: str) -> str:
    """auto: online when this machine has a W&B API key (env or ~/.netrc), offline otherwise."""
    if mode != "auto":
        if mode not in MODES:
            raise ValueError(f"logger.mode must be one of {', '.join(MODES)}, got {mode!r}")
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "online" if "api.wandb.ai" in netrc.read_text() else "offline"
    except OSError:
        return "offline"


def make_tracker(cfg, config: dict, run_dir: Path, tags: list[str] = ()) -> NullTracker:
    name = "none" if cfg is None else cfg["name"]
    if name == "none":
        return NullTracker()
    if name == "wandb":
        return WandbTracker(cfg, config, run_dir, tags)
    raise ValueError(
        f"logger.name must be one of {', '.join(TRACKERS)}, got {name!r} (choose logger=wandb or logger=none)"
    )
