"""What each table holds: its rows (the study's labels and our run names, in the study's order), the metric
columns compared with the study, our own extra columns, the protocols it is run at, and the study's figures.

Everything that lists models or labels asks `TABLES`: the Makefile (`python -m gcnn_study.config.specs table3
--sweeps`), `make reproduce`, the tables, the figures, the benchmarks and the tests. A run name ending in "+" is its
model trained with `dataset.augment=true`; that rule, and the run directory <results>/runs/<experiment>/<run>/seed=<s>,
belong to `gcnn_study.config.layout` (`python -m gcnn_study.config.specs --run-dir RESULTS EXPERIMENT RUN SEED`).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import pandas as pd

from gcnn_study.config import layout


class Row(NamedTuple):
    """One row of a table: the study's label and our run name (the model, "+" when trained augmented)."""

    label: str
    run: str

    @property
    def model(self) -> str:
        return layout.model_of(self.run)[0]

    @property
    def augmented(self) -> bool:
        return layout.model_of(self.run)[1]

    @property
    def extra(self) -> list[str]:
        """The overrides beyond `model=`: ["dataset.augment=true"] for a "+" row, else []."""
        return layout.overrides_of(self.run)[1:]


@dataclass(frozen=True)
class TableSpec:
    title: str
    experiment: str
    rows: tuple[Row, ...]  # (label as in the study, run name), given as plain pairs
    columns: tuple[tuple[str, str], ...]  # (header, metric key) compared with the study
    extra: tuple[tuple[str, str], ...] = ()  # our-only columns (raw IoU, Dice)
    percent: bool = False
    task: str = "classification"  # or "segmentation": the data and the arguments its runs take
    study: str = ""  # the study's table whose figures stand beside it (default: its own experiment's)
    reproduced: bool = True  # trained by `make reproduce`; False: a table of kept records (the 1×1-head design)
    # (run, overrides) for a row whose model needs more than its config in this experiment (the 1×1-head D4SegNet)
    model_overrides: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "rows", tuple(Row(*row) for row in self.rows))
        object.__setattr__(self, "study", self.study or self.experiment)

    def overrides_of(self, row: Row) -> list[str]:
        """The overrides that train `row` beyond experiment= and model=: its "+" and its model_overrides."""
        return [*row.extra, *dict(self.model_overrides).get(row.run, ())]

    @property
    def runs(self) -> tuple[str, ...]:
        """The run names, in the study's order."""
        return tuple(row.run for row in self.rows)

    @property
    def models(self) -> tuple[str, ...]:
        """The model configs the rows train, each once (segnet and segnet+ are one model)."""
        return tuple(dict.fromkeys(row.model for row in self.rows))


CLASSIFIERS = (("CNN", "cnn"), ("P4CNN", "p4cnn"), ("P6CNN", "p6cnn"), ("P8CNN", "p8cnn"), ("D4CNN", "d4cnn"))
MNIST_COLUMNS = (("MNIST test accuracy", "test_acc"), ("MNIST (+transforms) test accuracy", "test_transformed_acc"))
# Two factors, each varied alone: the filters (pixel, or smooth harmonic) and their transform (a group
# action, or an interpolation that is not one). "harmonic, resampled bilinear" is the harmonic filter rotated as
# a pixel image: smooth, not a group action. P4 and D4 are controls: every transform of theirs is exact, so only
# the filters vary. How each variant makes and turns its filters is its model configs' (conf/model/).


@dataclass(frozen=True)
class FilterVariant:
    """One filter variant of the P6 ablation."""

    label: str  # as the ablation's tables write it
    suffix: str  # its models' run names: <model><suffix> (conf/model/<model><suffix>.yaml)
    control: str = ""  # its label in the P4/D4 control rows ("" when the controls do not run it)


FILTER_VARIANTS = (
    FilterVariant("pixel, nearest (as run)", "", control="pixel"),
    FilterVariant("pixel, bilinear (as written)", "_bilinear"),  # the study's text: "interpolated pixel values"
    FilterVariant("harmonic, resampled bilinear", "_harmonic_bilinear"),
    FilterVariant("harmonic (exact)", "_harmonic", control="harmonic"),
)
ABLATION_VARIED, ABLATION_CONTROLS = ("p6cnn", "p8cnn"), ("p4cnn", "d4cnn")
ABLATION_P6_ROWS = tuple(  # the varied models with every variant, then the controls with theirs
    (f"{model.upper()} {v.label if model in ABLATION_VARIED else v.control}", model + v.suffix)
    for model in ABLATION_VARIED + ABLATION_CONTROLS
    for v in FILTER_VARIANTS
    if model in ABLATION_VARIED or v.control
)
SEGNET_ROWS = (
    ("SegNet", "segnet"),
    ("P4SegNet", "p4segnet"),
    ("D4SegNet", "d4segnet"),
    ("SegNet+", "segnet+"),
    ("P4SegNet+", "p4segnet+"),
)
SEGNET_COLUMNS = (("test IoU score", "test_iou_score"), ("rotated test IoU score", "test_rotated_iou_score"))
SEGNET_EXTRA = (
    ("test IoU (raw)", "test_iou"),
    ("rotated test IoU (raw)", "test_rotated_iou"),
    ("test Dice", "test_dice"),
)
SEGNET_T_ROWS = (("SegNet_T", "segnet_t"), ("P4SegNet_T", "p4segnet_t"), ("D4SegNet_T", "d4segnet_t"))
SEGNET_T_COLUMNS = (("train IoU score", "train_iou_score"), ("test IoU score", "test_iou_score"))
# The study has no rotated column in Table 4; ours lets the equal-scores claim be checked on Table 4 too.
SEGNET_T_EXTRA = (
    ("rotated test IoU score", "test_rotated_iou_score"),
    ("train IoU (raw)", "train_iou"),
    ("test IoU (raw)", "test_iou"),
    ("test Dice", "test_dice"),
)
# The D4 SegNets of the 1×1-head design kept the budget with these channels (the notebook's take 16/32/64/64).
CONV1X1_D4 = ("model.channels=[12,24,45,90]",)
TABLES = {
    "table1": TableSpec(
        "Table 1: accuracy of models trained on MNIST", "table1", CLASSIFIERS, MNIST_COLUMNS, percent=True
    ),
    "table2": TableSpec(
        "Table 2: accuracy of models on rotated MNIST",
        "table2",
        CLASSIFIERS,
        (("Test accuracy", "test_acc"),),
        percent=True,
    ),
    "table3": TableSpec(
        "Table 3: SegNet models on PH2 (study's thresholded IoU score; raw IoU in its own columns)",
        "table3",
        SEGNET_ROWS,
        SEGNET_COLUMNS,
        SEGNET_EXTRA,
        task="segmentation",
    ),
    "table4": TableSpec(
        "Table 4: SegNet models with transposed convolutions on PH2 (study's thresholded IoU score; raw IoU beside)",
        "table4",
        SEGNET_T_ROWS,
        SEGNET_T_COLUMNS,
        SEGNET_T_EXTRA,
        task="segmentation",
    ),
}


def _ablation(table: str, columns) -> TableSpec:
    """The P6 ablation (`make ablation-p6`) at `table`'s protocol; the study ran none, so every column is ours."""
    what = "pixel or harmonic filters, rotated by a group action or by interpolation"
    title = f"P6 ablation, {TABLES[table].title.split(':')[0]} protocol: {what}"
    return TableSpec(title, f"ablation_p6_{table}", ABLATION_P6_ROWS, (), columns, percent=True)


TABLES.update(ablation_p6_table1=_ablation("table1", MNIST_COLUMNS))
TABLES.update(ablation_p6_table2=_ablation("table2", (("Rot-MNIST test accuracy", "test_acc"),)))


def _conv1x1(table: str, d4_run: str) -> TableSpec:
    """The table of the seed-0 records trained before the SegNets followed the notebook (1×1 conv head, fan-in init):
    `table`'s rows and columns, its runs under <table>_conv1x1/, beside the study's `table`, never trained again by
    `make reproduce`, its D4 row with the channels that design kept the budget with."""
    spec = TABLES[table]
    return dataclasses.replace(
        spec,
        title=spec.title.split(":")[0] + " with the 1×1 conv head and fan-in init (the design before the notebook's "
        "output block)",
        experiment=f"{table}_conv1x1",
        study=table,
        reproduced=False,
        model_overrides=((d4_run, CONV1X1_D4),),
    )


# Kept, never mixed into Tables 3-4, and shown beside the study as their own tables: a one-factor comparison.
TABLES.update({f"{t}_conv1x1": _conv1x1(t, d4) for t, d4 in (("table3", "d4segnet"), ("table4", "d4segnet_t"))})

#: The study's own tables (the others in TABLES are ours: the P6 ablation, the 1×1-head records).
STUDY_TABLES = ("table1", "table2", "table3", "table4")
#: The tables `make reproduce` trains (the others hold kept records).
REPRODUCED = tuple(name for name, spec in TABLES.items() if spec.reproduced)

#: The label of every run name, as the study's tables write it (the first table that has the run names it).
LABELS = {row.run: row.label for spec in reversed(TABLES.values()) for row in spec.rows}  # the first one wins

#: The protocols a table can be run at. "run" is what the study's notebooks ran (`make table1` ... `make table4`,
#: experiment=<table>); "written" is what its text describes (`make reproduce`, experiment=<table>_written where
#: the two differ: official MNIST instead of the Larochelle subsets for Tables 1-2; Tables 3-4 are the same).
#: Each protocol's runs live under their own runs/<experiment>/, so the two never share a run directory.
PROTOCOLS = ("run", "written")
WRITTEN_EXPERIMENTS = {t: f"{t}_written" for t in ("table1", "table2", "ablation_p6_table1", "ablation_p6_table2")}


def experiment_of(table: str, protocol: str = "run") -> str:
    """The experiment config (and runs/ folder) of `table` at `protocol`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    as_run = TABLES[table].experiment
    return WRITTEN_EXPERIMENTS.get(table, as_run) if protocol == "written" else as_run


def protocol_of(name: str, results_dir) -> str:
    """The protocol whose runs `results_dir` holds for table `name`: the one of PROTOCOLS whose
    runs/<experiment>/ exists ("run" when none does). Both present is refused in one line."""
    present = [p for p in PROTOCOLS if layout.experiment_dir(results_dir, experiment_of(name, p)).is_dir()]
    if len({experiment_of(name, p) for p in present}) > 1:
        raise SystemExit(
            f"error: {results_dir}/runs holds {name} runs of both protocols "
            f"({', '.join(experiment_of(name, p) for p in present)}); keep one protocol per results folder, "
            "or choose one with --protocol run|written"
        )
    return present[0] if present else "run"


def experiment_in(table: str, results_dir) -> str:
    """The experiment of `table` whose runs `results_dir` holds (see protocol_of): what the figures read."""
    return experiment_of(table, protocol_of(table, results_dir))


def table_of(experiment: str) -> str | None:
    """The table whose experiment, at either protocol, is `experiment` (None for another experiment)."""
    return next((t for t in TABLES for p in PROTOCOLS if experiment_of(t, p) == experiment), None)


def parse_seeds(text: str, what: str = "SEEDS") -> list[int]:
    """`0,1,2` -> [0, 1, 2]; ValueError with one line naming `what` for anything else (the make variable, or the
    option, that the text came from)."""
    parts = [s.strip() for s in text.split(",") if s.strip()]
    if not parts or not all(part.isdecimal() for part in parts):
        raise ValueError(f"{what}={text!r} must be comma-separated integers >= 0, e.g. 0,1,2")
    return [int(part) for part in parts]


def study_reference() -> pd.DataFrame:
    """The study's own figures: the only place they live."""
    with resources.files("gcnn_study.reference").joinpath("study_results.csv").open() as f:
        return pd.read_csv(f)


def sweeps(table: str) -> list[list[str]]:
    """The Hydra multirun overrides that train every row of `table` (seed and experiment aside): one sweep of
    the plain rows, one of the augmented rows: [["model=segnet,p4segnet,d4segnet"], ["model=segnet,p4segnet",
    "dataset.augment=true"]] for Table 3."""
    spec, groups = TABLES[table], {}  # the rows' extra overrides -> their models, in row order
    for row in sorted(spec.rows, key=lambda r: r.augmented):  # stable: the plain rows' sweeps first
        groups.setdefault(tuple(spec.overrides_of(row)), []).append(row.model)
    return [[f"model={','.join(models)}", *extra] for extra, models in groups.items()]


def main(argv=None) -> None:
    """The tables' models for the Makefile and the shell: `model=$(python -m gcnn_study.config.specs table1)` (a comma
    list for a Hydra sweep), `--sweeps` (one line of overrides per sweep a table needs), `--count` (runs per seed), or
    `--run-dir RESULTS EXPERIMENT RUN SEED` (where that run lives)."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", metavar="TABLE", help="one of " + ", ".join(TABLES))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--augmented", action="store_true", help="only the models of the '+' rows")
    which.add_argument("--plain", action="store_true", help="only the models of the rows without '+'")
    which.add_argument("--sweeps", action="store_true", help="one line of Hydra overrides per sweep of each table")
    which.add_argument("--count", action="store_true", help="the number of rows of the tables together")
    which.add_argument("--run-dir", nargs=4, metavar=("RESULTS", "EXPERIMENT", "RUN", "SEED"), help="a run's folder")
    args = parser.parse_args(argv)
    if args.run_dir:
        if args.tables:
            parser.error("--run-dir takes no TABLE")
        results, experiment, run, seed = args.run_dir
        if not seed.isdigit():
            parser.error(f"SEED={seed!r} must be an integer >= 0")
        try:  # parsed back: a name or folder the layout cannot read is refused here, not by a later reader
            print(layout.parse(layout.run_dir(results, experiment, run, int(seed))).path)
        except ValueError as err:
            parser.error(str(err))
        return
    if not args.tables or set(args.tables) - set(TABLES):
        parser.error(f"give tables of {', '.join(TABLES)} (or --run-dir), got {' '.join(args.tables)!r}")
    if args.count:
        print(sum(len(TABLES[t].rows) for t in args.tables))
        return
    for table in args.tables:
        if args.sweeps:
            print("\n".join(" ".join(sweep) for sweep in sweeps(table)))
            continue
        rows = [r for r in TABLES[table].rows if not (args.augmented and not r.augmented or args.plain and r.augmented)]
        print(",".join(row.model for row in rows))


if __name__ == "__main__":
    main()
