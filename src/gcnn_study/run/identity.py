"""What defines a run: the settings that can change its result, their digest (settings_id), and the check that a
run directory holds a run made with them.

A run directory belongs to one resolved config (`config.yaml`): a finished run is skipped, and a checkpoint
resumed, only when the requested config equals the stored one on every setting that can change a result. The
settings that cannot are listed once, in `IGNORED`; the aggregator uses the same list (plus the seed) to decide
which runs may share a table row.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from gcnn_study.run.rundir import FORCE, RunDirError

# Settings that do not define a run: where files live, how progress is shown and logged, when it must pause (a
# deadline only splits the same epochs over several launches), whether to redo it, and how many CPU threads it may
# use. The thread count is a resource, like the machine, and like the machine it CAN change the numbers (it changes
# the order of float sums): it stays out of the identity so that a paused run resumes on the cores it is given, and
# each record's `launches` and machine key say which epochs ran on which count (docs/runs.md). Frozen: a change
# here changes every settings_id, so every committed record would read as inconsistent.
IGNORED = (
    "paths",
    "run_dir",
    "dataset.data_dir",
    "logger",
    "trainer.force",
    "trainer.progress",
    "trainer.log_every",
    "trainer.num_threads",
    "trainer.stop_at",
    "hydra",
)


def flat_settings(cfg, ignored=IGNORED) -> dict:
    """The resolved config as {"trainer.epochs": 30, ...}, without the ignored settings."""
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    out: dict = {}

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if any(path == i or path.startswith(i + ".") for i in ignored):
                continue
            if isinstance(value, dict):
                walk(value, path + ".")
            else:
                out[path] = value

    walk(tree, "")
    return out


# Settings added after runs were first recorded, each with the value every earlier run trained with: a setting
# absent from an older config.yaml and this value are the same run, so adding a key with its old behaviour as the
# default changes no committed record's identity. A key is listed here in the commit that adds it.
ADDED: dict[str, object] = {
    "model.init": "fan_in",  # the notebooks' init became an option (and the SegNets' default)
    "model.head": "conv1x1",  # the SegNets' output block: the notebooks' became the default
}


# Modules moved after runs were first recorded (the study left the library's package for its own): a `_target_`
# under its old name and under its new name are the same run. Identities are computed on the old names, so no
# committed record's identity changes (`settings`); a stored config is read with the new ones, so it builds
# (`with_added`). A prefix is listed here in the commit that moves its modules.
MOVED: dict[str, str] = {"gcnn.data.": "gcnn_study.data."}


def _renamed(value, moves: dict[str, str]):
    """`value` with its leading old prefix of `moves` replaced by the new one (any other value unchanged)."""
    if isinstance(value, str):
        for old, new in moves.items():
            if value.startswith(old):
                return new + value[len(old) :]
    return value


def with_added(cfg: DictConfig) -> DictConfig:
    """A stored config (config.yaml) with each ADDED key it lacks set to the value its run trained with, where the
    node takes that key (its `_target_`'s signature names it: model.head only for a SegNet): how a config.yaml
    written before a key existed builds the model it trained, not the one the key's new default builds."""
    import inspect

    from hydra.utils import get_method

    cfg = cfg.copy()
    for node in (cfg, *(v for v in cfg.values() if isinstance(v, DictConfig))):  # a `_target_` of an old module name
        if isinstance(node.get("_target_"), str):
            node["_target_"] = _renamed(node["_target_"], MOVED)
    for key, value in ADDED.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if not isinstance(node, DictConfig) or leaf in node or "_target_" not in node:
            continue
        try:
            takes = leaf in inspect.signature(get_method(node["_target_"])).parameters
        except Exception:  # a target that cannot be imported: the caller's instantiate says so
            takes = False
        if takes:
            with open_dict(node):
                node[leaf] = value
    return cfg


def settings(cfg, ignored=IGNORED) -> dict:
    """The settings that define a run (`flat_settings`), with each ADDED key left out where it holds the value that
    runs recorded before it ran with, and each MOVED `_target_` under its old name: what a run's identity is
    computed from and compared on."""
    flat = flat_settings(cfg, ignored)
    old_names = {new: old for old, new in MOVED.items()}
    flat = {k: _renamed(v, old_names) if k.endswith("._target_") else v for k, v in flat.items()}
    return {k: v for k, v in flat.items() if not (k in ADDED and v == ADDED[k])}


def settings_id(cfg) -> str:
    """The identity of a run's settings: a digest of `settings(cfg)` (the seed included). metrics.json and the
    checkpoint carry it, so a record proves which settings trained it, whatever config.yaml says later."""
    text = json.dumps(settings(cfg), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(stored: dict, requested: dict) -> list[str]:
    """`key: old -> new` for every setting that differs (absent settings show as <absent>)."""
    absent = "<absent>"
    keys = sorted(set(stored) | set(requested))
    return [
        f"{k}: {stored.get(k, absent)} -> {requested.get(k, absent)}"
        for k in keys
        if stored.get(k, absent) != requested.get(k, absent)
    ]


def check_identity(run_dir: Path, cfg: DictConfig, proof: str | None = None, proved_by: str = "") -> None:
    """Raise RunDirError unless the run stored in `run_dir` was made with the settings of `cfg`. `proof` is the
    settings_id that the run's own record (metrics.json, or the checkpoint) carries: the run's identity is that,
    and a config.yaml that disagrees with it has drifted, so the directory is refused as inconsistent."""
    stored = load_config(run_dir)
    if proof is not None and settings_id(stored) != proof:
        raise RunDirError(
            f"{run_dir / 'config.yaml'} is not the settings its {proved_by} was trained with (settings_id "
            f"{settings_id(stored)}, the record's {proof}): the record is inconsistent; {FORCE}"
        )
    if proof is not None and settings_id(cfg) == proof:
        return
    diff = differences(settings(stored), settings(cfg))
    if diff:
        shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
        raise RunDirError(
            f"{run_dir} holds a run with other settings ({shown}): trainer.force=true archives it and starts "
            f"again, or choose another paths.results_dir"
        )


def load_config(run_dir: Path) -> dict:
    """The run's config.yaml as a resolved dict; RunDirError, one line naming the file, when missing or unreadable."""
    path = Path(run_dir) / "config.yaml"
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing, so the run's settings are unknown: {FORCE}") from None
    except Exception as err:
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {FORCE}") from None
