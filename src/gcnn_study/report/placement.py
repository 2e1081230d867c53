"""The time column of a table: each run's training time and how it was placed (its threads of its machine's cores).

A run's placement comes from its metrics.json: the machine key of each launch that trained its epochs, and the
cores of the record's machine. A row's runs that were placed alike share one placement; a run resumed on another
placement has each launch's, with its epochs.
"""

from __future__ import annotations

import pandas as pd

from gcnn_study.run import provenance


def _fmt_time(seconds) -> str:
    if pd.isna(seconds):
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _launch_machines(record) -> list[tuple[str, str]]:
    """(machine key, epochs) of each launch that trained epochs of a run, from its metrics.json; a launch older than
    that record counts as the run's machine; [(machine, "")] for a run recorded without launches."""
    machine = str(record.get("machine") or "")
    launches = record.get("launches")
    spans = [(x.get("machine"), provenance.epochs_span(x)) for x in launches] if isinstance(launches, list) else []
    spans = [(m if m and m != provenance.NOT_RECORDED else machine, span) for m, span in spans if span]
    return spans or [(machine, "")]


def processor_name(machine: str) -> str:
    """ "cpu: Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 167), capability …" -> "Intel Xeon Processor
    (GenuineIntel family 6 model 167)": the key up to its first comma outside parentheses; a GPU key gives the GPU."""
    text, depth = machine.split(": ", 1)[-1].replace("(R)", ""), 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            return text[:i].strip()
    return text.strip()


def processors(runs: pd.DataFrame) -> set[str]:
    """The processors that trained the runs, every launch's: a table with more than one names them in its placements."""
    records = runs.to_dict("records") if len(runs) and "machine" in runs else []
    return {processor_name(m) for r in records for m, _ in _launch_machines(r) if m and not m.startswith("mixed")}


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
    return f"{processor_name(machine)}, {where}" if processor else where


def placement(record, processor: bool = False) -> str:
    """How one run was placed, beside its training time: its threads of its machine's cores ("1 thread of 2 cores";
    the cores from the record's provenance, for the launches on its last processor), "GPU"; a run whose launches
    were placed differently has each with its epochs ("1 thread of 2 cores for epoch 1, 2 threads of 2 cores for
    epochs 2-40"). `processor`: name the processor too (a table whose runs trained on several)."""
    spans = _launch_machines(record)
    last = processor_name(spans[-1][0])
    cores = record.get("cores")
    placed = [(_place(m, cores if processor_name(m) == last else None, processor), span) for m, span in spans]
    if len({text for text, _ in placed}) == 1:
        return placed[0][0]
    return ", ".join(f"{text or 'not recorded'} for {span}" for text, span in placed)


def row_placement(sel: pd.DataFrame, processor: bool) -> str:
    """The placement of a row's runs: theirs when they share it, each otherwise ("mixed: a / b")."""
    found = list(dict.fromkeys(placement(r, processor) for r in sel.to_dict("records"))) if len(sel) else []
    return found[0] if len(found) == 1 else "mixed: " + " / ".join(found) if found else ""


def time_cell(r) -> str:
    """The time column's cell: the mean training time of the row's runs and how they were placed."""
    where = r.get("placement")
    return _fmt_time(r["train_seconds_mean"]) + (f" ({where})" if isinstance(where, str) and where else "")


def time_note(table: pd.DataFrame) -> list[str]:
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
