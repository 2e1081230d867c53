"""Aggregate finished runs into the study's tables: `python -m gcnn_study.report.tables table1 --results-dir results`.

Reads every `runs/<experiment>/<run>/seed=<seed>/metrics.json` under the results directory (`gcnn_study.layout`), writes
`tableN.md` and `tableN.csv` there: the study's row order, mean ± std over seeds with n, the study's value
beside ours (from the one reference file, `gcnn_study/reference/study_results.csv`), parameters and training time,
then the runs that are missing, failed or unfinished, and the data and epochs used. A partial sweep gives a
partial table, never a crash. Runs of one row are averaged only when their settings (`config.yaml`) are equal
apart from the seed; otherwise the row stays empty and the runs are listed as a problem under the table. A
metrics.json that is not a finished run's record (`gcnn_study.rundir.record_problem`: the wrong shape, or a NaN of a
run that diverged) is never averaged; it is listed under the table too. So is a run that is not its row's model
(`model=cnn model.group=p5` is filed as cnn: `foreign_model`), and one that diverged while its numbers stayed finite
(`gcnn_study.divergence`); a row with no other run reads "not this row's model" or "diverged", never a number.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from gcnn_study import layout, provenance
from gcnn_study.divergence import run_divergence
from gcnn_study.report import claims
from gcnn_study.rundir import (
    ADDED,
    IGNORED,
    RunDirError,
    differences,
    flat_settings,
    load_config,
    read_metrics,
    record_settings_problem,
    settings,
)
from gcnn_study.specs import (
    PROTOCOLS,
    STUDY_TABLES,
    TABLES,
    TableSpec,
    experiment_of,
    parse_seeds,
    protocol_of,
    study_reference,
    table_of,
)

# What may differ between the runs of one row: what cannot change a result, and the seed.
ROW_IGNORED = (*IGNORED, "seed", "dataset.augment_seed")


def collect_runs(results_dir: Path, experiment: str) -> tuple[pd.DataFrame, list[dict]]:
    """Finished runs as a frame (one row per run), and the run directories that failed or did not finish."""
    records, problems = [], []
    for ref in layout.find(results_dir, experiment):
        run_dir, name, seed = ref.path, ref.run, str(ref.seed)
        if (run_dir / "metrics.json").exists():
            try:
                data = read_metrics(run_dir)
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


#: What the cells of a row read when every run of it was refused for being another model, or for diverging.
NOT_THE_ROWS_MODEL = "not this row's model"
DIVERGED = "diverged"


def _architecture(model: dict) -> dict:
    """The settings that make a model config the network it is ({"model.group": "p4", ...}): every key but its name
    and its class's import path, with each key of gcnn_study.rundir.ADDED that it lacks at the value runs had
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

    from gcnn_study import schema

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


def _launch_lines(runs: pd.DataFrame) -> list[str]:
    """The runs that more than one process trained, with the commit of each one's epochs (their settings are the
    same, the run directory saw to that; the code may not be): nothing when every run was one launch."""
    if "launches" not in runs:
        return []
    several = [
        f"- {r['run']} seed={r['seed']}: {provenance.launches_line(r['launches'])}"
        for _, r in runs.sort_values(["run", "seed"]).iterrows()
        if isinstance(r["launches"], list) and len(r["launches"]) > 1
    ]
    if not several:
        return []
    return [
        "",
        "Runs trained by several launches (each launch's command and machine are in its metrics.json):",
    ] + several


def _input_size(run_dir: Path) -> str:
    """The image size the run trained on, from its data_info.json ('?' when unknown)."""
    try:
        info = json.loads((run_dir / "data_info.json").read_text())
        size = info.get("size") or info.get("pad_to") or 28
    except (OSError, ValueError, AttributeError):
        return "?"
    return f"{size}×{size}"


def aggregate(spec: TableSpec, runs: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per model of the study, in its order: mean, std and n of every metric, the study's value."""
    ref = reference[reference.table == spec.study].set_index(["model", "metric"])["value"]
    rows = []
    for label, name in spec.rows:
        sel = runs[runs.run == name] if len(runs) else runs
        row = {"model": label, "run_name": name, "n": int(len(sel))}
        for _, key in spec.columns + spec.extra:
            values = sel[key].dropna() if key in sel else pd.Series(dtype=float)
            row[f"{key}_mean"] = values.mean() if len(values) else float("nan")
            row[f"{key}_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
            row[f"{key}_n"] = int(len(values))  # runs that report this metric (n above counts the row's runs)
            if (name, key) in ref.index:
                row[f"{key}_study"] = float(ref[(name, key)])
        row["params"] = int(sel["params"].iloc[0]) if len(sel) else None
        row["train_seconds_mean"] = sel["train_seconds"].mean() if len(sel) else float("nan")
        row["placement"] = _row_placement(sel, processor=len(_processors(runs)) > 1)
        row["seeds"] = ",".join(str(s) for s in sorted(sel["seed"].tolist())) if len(sel) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(mean, std, n, percent):
    if pd.isna(mean):
        return "–"
    scale, unit, digits = (100, " %", 2) if percent else (1, "", 3)
    text = f"{mean * scale:.{digits}f}"
    if not pd.isna(std):
        text += f" ± {std * scale:.{digits}f}"
    return f"{text}{unit} (n={n})"


def _fmt_study(value, percent):
    if value is None or pd.isna(value):
        return "–"
    return f"{value * 100:.2f} %" if percent else f"{value:.3f}"


def _fmt_time(seconds):
    if pd.isna(seconds):
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# ------------------------------------------------------------------------ the time column: how each run was placed
def _launch_machines(record) -> list[tuple[str, str]]:
    """(machine key, epochs) of each launch that trained epochs of a run, from its metrics.json; a launch older than
    that record counts as the run's machine; [(machine, "")] for a run recorded without launches."""
    machine = str(record.get("machine") or "")
    launches = record.get("launches")
    spans = [(x.get("machine"), provenance.epochs_span(x)) for x in launches] if isinstance(launches, list) else []
    spans = [(m if m and m != provenance.NOT_RECORDED else machine, span) for m, span in spans if span]
    return spans or [(machine, "")]


def _processor(machine: str) -> str:
    """ "cpu: Intel(R) Xeon(R) Processor, capability …" -> "Intel Xeon Processor"; a GPU key gives the GPU."""
    return machine.split(": ", 1)[-1].split(",")[0].replace("(R)", "").strip()


def _processors(runs: pd.DataFrame) -> set[str]:
    records = runs.to_dict("records") if len(runs) and "machine" in runs else []
    return {_processor(m) for r in records for m, _ in _launch_machines(r) if m and not m.startswith("mixed")}


def _place(machine: str, cores, processor: bool) -> str:
    """One machine key's placement: "1 thread of 2 cores" (its threads, and the cores of the record's machine when
    known), "GPU"; led by the processor when `processor`; "" when the key says neither."""
    if machine.startswith("cuda"):
        where = "GPU"
    else:
        found = [p.split()[0] for p in machine.split(", ") if p.endswith(" threads") and p.split()[0].isdigit()]
        if not machine.startswith("cpu") or not found:
            return ""
        threads = int(found[0])
        where = f"{threads} thread{'s' * (threads != 1)}" + (f" of {int(cores)} cores" if pd.notna(cores) else "")
    return f"{_processor(machine)}, {where}" if processor else where


def placement(record, processor: bool = False) -> str:
    """How one run was placed, beside its training time: its threads of its machine's cores ("1 thread of 2 cores";
    the cores from the record's provenance, for the launches on its last processor), "GPU"; a run whose launches
    were placed differently has each with its epochs ("1 thread of 2 cores for epoch 1, 2 threads of 2 cores for
    epochs 2-40"). `processor`: name the processor too (a table whose runs trained on several)."""
    spans = _launch_machines(record)
    last = _processor(spans[-1][0])
    cores = record.get("cores")
    placed = [(_place(m, cores if _processor(m) == last else None, processor), span) for m, span in spans]
    if len({text for text, _ in placed}) == 1:
        return placed[0][0]
    return ", ".join(f"{text or 'not recorded'} for {span}" for text, span in placed)


def _row_placement(sel: pd.DataFrame, processor: bool) -> str:
    """The placement of a row's runs: theirs when they share it, each otherwise ("mixed: a / b")."""
    found = list(dict.fromkeys(placement(r, processor) for r in sel.to_dict("records"))) if len(sel) else []
    return found[0] if len(found) == 1 else "mixed: " + " / ".join(found) if found else ""


def _time_cell(r) -> str:
    """The time column's cell: the mean training time of the row's runs and how they were placed."""
    where = r.get("placement")
    return _fmt_time(r["train_seconds_mean"]) + (f" ({where})" if isinstance(where, str) and where else "")


def _time_note(table: pd.DataFrame) -> list[str]:
    """What the time column compares: how the runs were placed, and whether the rows were placed alike."""
    placed = [p for p in table.get("placement", pd.Series(dtype=object)) if isinstance(p, str) and p]
    if not placed:
        return []
    alike = (
        "All rows here were placed alike."
        if len(set(placed)) == 1
        else "The rows here were placed differently: compare their times only between rows placed alike."
    )
    return [
        "",
        "Train time / run: the mean training time of the row's runs and how they were placed: the threads each "
        "trained on, of its machine's cores (from each run's metrics.json). `make reproduce` runs cores ÷ threads "
        "runs at once (JOBS × trainer.num_threads fills the machine): a run on fewer threads than cores was planned "
        "to share the machine with other runs, and one on every core to have it alone, which is faster; the records "
        f"do not say whether a neighbour ran throughout. {alike}",
    ]


def _ours(spec: TableSpec, r, key: str, mark: str | None = None) -> str:
    """Our cell of metric `key` in one aggregated row; `mark` (see `_marks`) in place of a number when the row has no
    averaged run."""
    if mark and not r["n"]:
        return mark
    return _fmt(r[f"{key}_mean"], r[f"{key}_std"], r[f"{key}_n"], spec.percent)


def _compared_cells(spec: TableSpec, r, mark: str | None = None) -> list[str]:
    """Ours, then the study's, for each compared column of one aggregated row."""
    cells = []
    for _, key in spec.columns:
        cells += [_ours(spec, r, key, mark), _fmt_study(r.get(f"{key}_study"), spec.percent)]
    return cells


def _marks(problems: list[dict]) -> dict[str, str]:
    """{run name: what its row's cells read without an averaged run} for the rows with runs refused as another model
    or as diverged ("diverged", "not this row's model", or both)."""
    marks: dict[str, list[str]] = {}
    for p in problems:
        if p.get("mark") and p["mark"] not in marks.setdefault(p["model"], []):
            marks[p["model"]].append(p["mark"])
    return {name: " / ".join(found) for name, found in marks.items() if found}


def render_markdown(spec, table, runs, problems, missing, command) -> str:
    header = ["Model"]
    for title, _ in spec.columns:
        header += [f"{title} (ours)", f"{title} (study)"]
    header += [f"{title} (ours)" for title, _ in spec.extra] + ["parameters", "train time / run (placement)"]
    lines = [f"# {spec.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    marks = _marks(problems)
    for _, r in table.iterrows():
        mark = marks.get(r["run_name"])
        cells = [r["model"], *_compared_cells(spec, r, mark)]
        cells += [_ours(spec, r, key, mark) for _, key in spec.extra]
        cells += [
            f"{int(r['params']):,}" if r["params"] is not None and not pd.isna(r["params"]) else "–",
            _time_cell(r),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")

    lines += ["", "Ours: mean ± sample std over seeds (n: the runs that report that metric)."]
    if spec.columns:  # a table without the study's columns (the P6 ablation) has no study to cite
        lines[-1] += (
            " Study: the report's figures, from `src/gcnn_study/reference/study_results.csv`, never mixed with ours."
        )
    lines += _time_note(table)
    if len(runs):
        setups = (
            runs.groupby(["dataset", "input_size", "epochs", "device", "synthetic"]).size().reset_index(name="runs")
        )
        lines += ["", "Runs aggregated (dataset, input size, epochs, device):"]
        for _, s in setups.iterrows():
            synthetic = " — SYNTHETIC data, not comparable with the study" if s["synthetic"] else ""
            epochs = f"{s['epochs']} epoch{'' if s['epochs'] == 1 else 's'}"
            lines.append(
                f"- {s['dataset']} at {s['input_size']}, {epochs}, {s['device']}: "
                f"{s['runs']} run{'' if s['runs'] == 1 else 's'}{synthetic}"
            )
        if len(setups) > 1:
            lines.append(
                "- WARNING: the rows come from different setups (above): compare them with care; keep one "
                "setting per `RESULTS=` folder."
            )
        machines = runs.groupby("machine", sort=True)["run"].agg(lambda r: ", ".join(dict.fromkeys(r)))
        lines += ["", "Machines (each run's provenance is in its metrics.json):"]
        lines += [f"- {key}: {names}" for key, names in machines.items()]
        if len(machines) > 1:
            lines.append(
                "- WARNING: these runs come from different machines, whose numbers may differ beyond "
                "round-off (docs/reproducibility.md)."
            )
        lines += _launch_lines(runs)
    if missing or problems:
        lines += ["", "Missing, unfinished or unaveraged runs:"]
        lines += [f"- {m} seed={s}: missing" for m, s in missing]
        lines += [f"- {p['model']} seed={p['seed']}: {p['status']}" for p in problems]
    else:
        lines += ["", "No run is missing."]
    lines += ["", f"Made by: `{command}` on {time.strftime('%Y-%m-%d %H:%M')}", ""]
    return "\n".join(lines)


def aggregated(name: str, results_dir: Path, protocol: str | None = None):
    """(spec, table, runs, problems) of table `name` from the runs under `results_dir` at `protocol` (None:
    protocol_of): what the table file, its csv and the README's block are all written from."""
    if name not in TABLES:
        raise SystemExit(f"error: unknown table {name!r}; choose one of {', '.join(TABLES)}")
    spec = TABLES[name]
    results_dir = Path(results_dir)
    if not results_dir.is_dir():  # a typo must not give a table of missing runs in a new folder
        raise SystemExit(f"error: {results_dir} is not a folder: give --results-dir the paths.results_dir of the runs")
    protocol = protocol or protocol_of(name, results_dir)
    runs, problems = collect_runs(results_dir, experiment_of(name, protocol))
    runs, mixed = split_mixed_rows(runs)
    return spec, aggregate(spec, runs, study_reference()), runs, problems + mixed


def make_table(
    name: str,
    results_dir: Path,
    seeds: list[int] | None = None,
    command: str | None = None,
    protocol: str | None = None,
) -> tuple[str, pd.DataFrame]:
    """Table `name` as markdown, as a frame and its `facts`, written nowhere (build_table writes them)."""
    spec, table, runs, problems = aggregated(name, results_dir, protocol)
    found_seeds = sorted({int(s) for s in runs["seed"]}) if len(runs) else []
    expected_seeds = seeds if seeds is not None else (found_seeds or [0])
    done = set(zip(runs["run"], runs["seed"].astype(int))) if len(runs) else set()
    reported = {(p["model"], str(s)) for p in problems for s in str(p["seed"]).split(",")}
    missing = [
        (n, s) for _, n in spec.rows for s in expected_seeds if (n, s) not in done and (n, str(s)) not in reported
    ]
    command = command or " ".join(["python -m gcnn_study.report.tables", *sys.argv[1:]])
    return render_markdown(spec, table, runs, problems, missing, command), table, facts(runs, command)


def facts(runs: pd.DataFrame, command: str) -> dict:
    """What the other reports need of a table beside its rows (`<name>.json`, so that none of them reads the
    markdown): the command that made it, and {machine: [run names]} of the runs it aggregates."""
    machines = {} if not len(runs) else {k: list(dict.fromkeys(v)) for k, v in runs.groupby("machine")["run"]}
    return {"command": command, "machines": machines}


def build_table(
    name: str,
    results_dir: Path,
    seeds: list[int] | None = None,
    command: str | None = None,
    protocol: str | None = None,
) -> Path:
    """Write `<results_dir>/<name>.md/.csv/.json` from the runs of `name` at `protocol` (None: protocol_of)."""
    text, table, about = make_table(name, results_dir, seeds, command, protocol)
    out = Path(results_dir) / f"{name}.md"
    try:
        out.write_text(text)
        table.to_csv(Path(results_dir) / f"{name}.csv", index=False)
        (Path(results_dir) / f"{name}.json").write_text(json.dumps(about, indent=1) + "\n")
    except OSError as err:
        raise SystemExit(
            f"error: cannot write {name} into {results_dir} ({err.strerror or err}): choose a folder you can write to"
        ) from None
    return out


# The README's results block lies between these two lines; `--readme` rewrites what is between them.
README_BEGIN = "<!-- results: written by `make readme-results` from the finished runs' records; do not edit -->"
README_END = "<!-- results: end -->"


def headline(results_dir: Path, link_dir: str) -> str:
    """The README's results block: every row of Tables 1-4 with the compared columns, ours beside the study's,
    from the finished runs' records under `results_dir` (`link_dir`: that folder as the README links it).
    Only finished runs count, so the block is the same in every clone of the same commit."""
    # Then the tables of kept records that stand beside one of them (the 1×1-head SegNets), where the folder has any.
    kept = [
        name
        for name, spec in TABLES.items()
        if not spec.reproduced and spec.study in STUDY_TABLES and layout.experiment_dir(results_dir, name).is_dir()
    ]
    lines = []
    for name in (*STUDY_TABLES, *kept):
        spec, table, runs, problems = aggregated(name, results_dir)
        marks = _marks(problems)
        header = ["Model"] + [f"{title} ({who})" for title, _ in spec.columns for who in ("ours", "study")]
        lines += [f"**[{spec.title}]({link_dir}/{name}.md)**", "", "| " + " | ".join(header) + " |"]
        lines.append("|---|" + "---:|" * (len(header) - 1))
        for _, r in table.iterrows():
            lines.append("| " + " | ".join([r["model"], *_compared_cells(spec, r, marks.get(r["run_name"]))]) + " |")
        finished = int((table["n"] > 0).sum())
        machines = sorted(set(runs["machine"])) if len(runs) else []
        seeds = sorted({int(s) for s in runs["seed"]}) if len(runs) else []
        done = f"{finished} of {len(table)} rows finished"
        if seeds:
            done += f" (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
        lines += ["", done + (f", on {'; '.join(machines)}" if machines else "") + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def _block_span(readme: Path) -> tuple[str, int, int]:
    """The README's text and where its results block starts and ends (between the marker lines)."""
    text = Path(readme).read_text()
    once = text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    if not once or text.index(README_BEGIN) > text.index(README_END):
        raise SystemExit(
            f"error: {readme} needs one results block: the line {README_BEGIN!r}, then the line {README_END!r}"
        )
    return text, text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)


def readme_block(readme: Path, results_dir: Path) -> tuple[str, str]:
    """(the README's results block as it stands, as `headline` writes it from `results_dir` now)."""
    text, start, end = _block_span(readme)
    link = Path(os.path.relpath(Path(results_dir).resolve(), Path(readme).resolve().parent)).as_posix()
    return text[start:end], "\n\n" + headline(Path(results_dir), link) + "\n"


def write_readme(readme: Path, results_dir: Path) -> bool:
    """Rewrite the README's results block from the records under `results_dir`; True when it changed."""
    current, fresh = readme_block(readme, results_dir)
    if current == fresh:
        return False
    text, start, end = _block_span(readme)
    Path(readme).write_text(text[:start] + fresh + text[end:])
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # No `choices`: argparse (3.11) refuses an empty list against them; aggregated() names the unknown table.
    parser.add_argument("tables", nargs="*", metavar="TABLE", help="which tables to build: " + ", ".join(TABLES))
    parser.add_argument("--results-dir", default="results", help="the paths.results_dir of the runs")
    parser.add_argument("--seeds", default=None, help="expected seeds, e.g. 0,1,2 (missing ones are listed)")
    parser.add_argument("--command", default=None, help="the command that made the runs, written under the table")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="the runs of the protocol as run (runs/<table>/) or as written (runs/<table>_written/ where it "
        "differs); default: the one the results directory holds",
    )
    parser.add_argument(
        "--readme",
        default=None,
        metavar="README.md",
        help="rewrite that file's results block (Tables 1-4, ours beside the study's) from --results-dir",
    )
    args = parser.parse_args(argv)
    if not args.tables and not args.readme:
        parser.error("give the tables to build, or --readme README.md")
    try:
        seeds = parse_seeds(args.seeds, "--seeds") if args.seeds else None
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    for name in args.tables:
        out = build_table(name, Path(args.results_dir), seeds, args.command, args.protocol)
        print(out.read_text())
        print(f"wrote {out} and {out.with_suffix('.csv')}")
    if set(STUDY_TABLES) & set(args.tables):  # the verdicts follow the tables they read
        print(f"wrote {claims.write(Path(args.results_dir))} (the study's claims checked against these tables)")
    if {"ablation_p6_table1", "ablation_p6_table2"} & set(args.tables):  # and so does the ablation's reading
        from gcnn_study.report import ablation

        print(f"wrote {ablation.write(Path(args.results_dir))} (the P6 ablation's reading of these tables)")
    if args.readme:
        changed = write_readme(Path(args.readme), Path(args.results_dir))
        print(f"{'rewrote' if changed else 'unchanged:'} the results block of {args.readme} from {args.results_dir}")


if __name__ == "__main__":
    main()
