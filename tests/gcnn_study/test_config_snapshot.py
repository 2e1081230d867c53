"""Every run's composed config, key for key, against the committed snapshot (tests/reference/configs.json).

A refactor must not change what a run is: records under results/full/runs/ stay "finished with these settings"
only while the composed configs do. The snapshot holds, for every row of every table at both protocols (as run,
as written), seed 0, the settings run identity compares (gcnn_study.run.identity.flat_settings: paths, logger and the
other IGNORED keys left out). A deliberate change of a config's shape is made with
`python tests/gcnn_study/test_config_snapshot.py --regenerate` and lands with a migration that run identity understands.
"""

from __future__ import annotations

import json
import sys

import pytest

from gcnn_study.run import identity

from gcnn_study.config import specs
from helpers import REPO, compose_cfg

SNAPSHOT = REPO / "tests" / "reference" / "configs.json"


def every_run() -> dict[str, list[str]]:
    """{"<experiment>/<run name>": overrides} for every row of every table at both protocols, seed 0."""
    runs = {}
    for table in specs.TABLES:
        for protocol in specs.PROTOCOLS:
            experiment = specs.experiment_of(table, protocol)
            for row in specs.TABLES[table].rows:
                overrides = [f"experiment={experiment}", f"model={row.model}", "seed=0", *row.extra]
                runs[f"{experiment}/{row.run}"] = overrides
    return runs


def composed() -> dict[str, dict]:
    return {key: identity.flat_settings(compose_cfg(*overrides)) for key, overrides in every_run().items()}


def test_every_run_composes_to_the_committed_snapshot():
    stored = json.loads(SNAPSHOT.read_text())
    now = json.loads(json.dumps(composed()))  # the same JSON types as the file (tuples as lists)
    assert sorted(now) == sorted(stored), "runs added or removed: regenerate the snapshot deliberately"
    for key in sorted(stored):
        diff = identity.differences(stored[key], now[key])
        assert not diff, f"{key}: {'; '.join(diff[:5])}"


@pytest.mark.parametrize("table", ["table1", "table3"])
def test_the_snapshot_tells_protocols_and_rows_apart(table):
    stored = json.loads(SNAPSHOT.read_text())
    experiment = specs.experiment_of(table, "run")
    rows = [k for k in stored if k.startswith(experiment + "/")]
    assert len(rows) == len(specs.TABLES[table].rows)
    assert len({json.dumps(stored[k], sort_keys=True) for k in rows}) == len(rows)  # every row its own settings


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/gcnn_study/test_config_snapshot.py --regenerate")
    SNAPSHOT.write_text(json.dumps(composed(), indent=1, sort_keys=True) + "\n")
    print(f"written: {SNAPSHOT}")
