"""Find a table's runs and check each one before it is averaged: finished, consistent, its row's model, not diverged.

`collect_runs` reads every `runs/<experiment>/<run>/seed=<seed>/metrics.json` under a results directory
(`gcnn_study.config.layout`). A metrics.json that is not a finished run's record
(`gcnn_study.run.records.record_problem`: the wrong shape, or a NaN of a run that diverged) is never averaged; it is
listed as a problem. So is a run that is not
its row's model (`model=cnn model.group=p5` is filed as cnn: `foreign_model`), and one that diverged while its
numbers stayed finite (`gcnn_study.run.divergence`). `split_mixed_rows` then keeps the runs of a row only when their
settings (`config.yaml`) are equal apart from the seed; otherwise the row stays empty and its runs are listed.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from gcnn_study.config import layout
from gcnn_study.config.specs import TABLES, table_of
from gcnn_study.run import provenance
from gcnn_study.run.divergence import run_divergence
from gcnn_study.run.identity import ADDED, IGNORED, differences, flat_settings, load_config, settings
from gcnn_study.run.records import read_metrics, record_settings_problem
from gcnn_study.run.rundir import RunDirError

# What may differ between the runs of one row: what cannot change a result, and the seed.
ROW_IGNORED = (*IGNORED, "seed", "dataset.augment_seed")

#: What the cells of a row read when every run of it was refused for being another model, or for diverging.
NOT_THE_ROWS_MODEL = "not this row's model"
DIVERGED = "diverged"


def collect_runs(results_dir: Path, experiment: str) -> tuple[pd.DataFrame, list[dict]]:
    """Finished runs as a frame (one row per run), and the run directories that failed or did not finish."""
    records, problems = [], []
    for ref in layout.find(results_dir, experiment):
        run_dir, name, seed = ref.path, ref.run, str(ref.seed)
        if (run_dir / "metrics.json").exists():
            try:
                data = provenance.upgraded_machines(read_metrics(run_dir))
            except RunDirError as err:
                problems.append({"model": name, "seed": seed, "status": f"not averaged: {err}"})
                continue
            inconsistent = record_settings_problem(run_dir, data)
            if inconsistent:  # its config.yaml drifted from the settings the record proves: neither can be trusted
                problems.append({"model": name, "seed": seed, "status": f"inconsistent, not averaged: {inconsistent}"})
                continue
            foreign = foreign_model(run_dir, experiment, name)
            if foreign:  # `model=cnn model.group=p5` is filed as cnn: it is another network
                status = f"{NOT_THE_ROWS_MODEL}, not averaged: {foreign}"
                problems.append({"model": name, "seed": seed, "status": status, "mark": NOT_THE_ROWS_MODEL})
                continue
            diverged = run_divergence(run_dir, data)
            if diverged:  # finite numbers of a run that blew up: on disk, listed, never averaged
                problems.append({"model": name, "seed": seed, "status": f"{diverged}; not averaged", "mark": DIVERGED})
                continue
            records.append(
                {
                    **{k: v for k, v in data.items() if k not in ("metrics", "provenance")},
                    **data["metrics"],
                    "run": name,
                    "machine": data.get("machine", "machine not recorded"),
                    "cores": (data.get("provenance") or {}).get("cpu_count"),  # placement of the time column
                    "input_size": _input_size(run_dir),
                    "settings": _settings(run_dir),
                }
            )
        elif (run_dir / "failed.json").exists():
            try:
                error = json.loads((run_dir / "failed.json").read_text())["error"]
            except (OSError, ValueError, TypeError, KeyError):  # damaged, or not the trainer's shape
                error = "failed.json unreadable"
            problems.append({"model": name, "seed": seed, "status": f"failed: {error}"})
        else:
            status = (
                "unfinished (rerun the same command to resume)"
                if (run_dir / "checkpoint.pt").exists()
                else "started, no epoch finished"
            )
            problems.append({"model": name, "seed": seed, "status": status})
    return pd.DataFrame.from_records(records), problems


def _architecture(model: dict) -> dict:
    """The settings that make a model config the network it is ({"model.group": "p4", ...}): every key but its name
    and its class's import path, with each key of gcnn_study.run.identity.ADDED that it lacks at the value runs had
    before it."""
    flat = flat_settings({"model": model}, ())
    arch = {k: v for k, v in flat.items() if k not in ("model.name", "model._target_")}
    return {**{k: v for k, v in ADDED.items() if k.startswith("model.")}, **arch}


def row_model(experiment: str, run: str) -> tuple | None:
    """The architecture (`_architecture`, as sorted pairs) of the row whose run name is `run`: conf/model/<model>.yaml
    composed as `experiment=<experiment>` composes it; None when there is no such model config to compose (a run
    under its own model.name, which no row reads), or when it cannot be composed here (Hydra already initialised)."""
    try:
        return _row_model(experiment, run)
    except Exception:  # not remembered: another call, elsewhere, may compose it
        return None


@functools.cache
def _row_model(experiment: str, run: str) -> tuple | None:
    from hydra.errors import MissingConfigException
    from omegaconf import OmegaConf

    from gcnn_study.config import schema

    table = table_of(experiment)
    extra = dict(TABLES[table].model_overrides).get(run, ()) if table else ()  # e.g. the 1×1-head D4's channels
    try:
        overrides = layout.overrides_of(run)
    except ValueError:
        return None  # not a run name
    try:
        cfg = schema.compose([f"experiment={experiment}", *overrides, *extra])
    except MissingConfigException:
        return None  # remembered: no such model config (a run under its own model.name: not a row of any table)
    return tuple(sorted(_architecture(OmegaConf.to_container(cfg.model, resolve=True)).items()))


def foreign_model(run_dir: Path, experiment: str, run: str) -> str | None:
    """Why the run in `run_dir`, filed under `run`, is not the model its row names (`model=cnn model.group=p5`
    trains a P5 network named cnn), comparing the architecture of its config.yaml with the row's (`row_model`) on the
    keys both have; None when it is the row's model or either is unknown."""
    row = row_model(experiment, run)
    try:
        ours = _architecture(load_config(run_dir).get("model") or {})
    except (RunDirError, AttributeError):
        return None  # config.yaml unreadable: split_mixed_rows lists it
    if row is None:
        return None
    row = dict(row)
    both = sorted(set(row) & set(ours))
    diff = [f"{k}={_plain(ours[k])} (the row's {_plain(row[k])})" for k in both if row[k] != ours[k]]
    if not diff:
        return None
    shown = ", ".join(diff[:4]) + (f" and {len(diff) - 4} more" if len(diff) > 4 else "")
    model = layout.model_of(run)[0]
    return (
        f"{shown}, not conf/model/{model}.yaml as experiment={experiment} composes it; give such a run its own "
        f"model.name, or retrain it as the row's model (trainer.force=true)"
    )


def _plain(value) -> str:
    return str(value).replace(" ", "") if isinstance(value, list) else str(value)


def _settings(run_dir: Path) -> dict | None:
    """The run's settings that must agree within a table row, or None when config.yaml is unreadable."""
    try:
        from omegaconf import OmegaConf

        return settings(OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml")), ROW_IGNORED)
    except Exception:
        return None


def split_mixed_rows(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Keep the runs of each row only when their settings agree (seed aside); list the others as problems."""
    if not len(runs):
        return runs, []
    keep, problems = [], []
    for name, sel in runs.groupby("run", sort=False):
        settings = sel["settings"].tolist()
        if any(s is None for s in settings):
            unknown = [str(seed) for seed, s in zip(sel["seed"], settings) if s is None]
            problems.append(
                {
                    "model": name,
                    "seed": ",".join(unknown),
                    "status": "config.yaml missing or unreadable: "
                    "settings unknown, not averaged (rerun with trainer.force=true)",
                }
            )
            sel = sel[[s is not None for s in settings]]
            settings = [s for s in settings if s is not None]
        first = settings[0] if settings else None
        odd = [i for i, s in enumerate(settings) if s != first]
        if odd:
            diff = differences(first, settings[odd[0]])
            shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
            problems.append(
                {
                    "model": name,
                    "seed": ",".join(str(s) for s in sorted(sel["seed"])),
                    "status": f"runs with different settings, not averaged (seed {sel['seed'].iloc[0]} vs "
                    f"seed {sel['seed'].iloc[odd[0]]}: {shown}); rerun them with one setting "
                    f"(trainer.force=true) or keep each setting in its own RESULTS folder",
                }
            )
        else:
            keep.append(sel)
    return (pd.concat(keep) if keep else runs.iloc[0:0]), problems


def _input_size(run_dir: Path) -> str:
    """The image size the run trained on, from its data_info.json ('?' when unknown)."""
    try:
        info = json.loads((run_dir / "data_info.json").read_text())
        size = info.get("size") or info.get("pad_to") or 28
    except (OSError, ValueError, AttributeError):
        return "?"
    return f"{size}×{size}"
