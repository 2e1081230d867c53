#!/usr/bin/env bash
# One stint of `make reproduce` on a GPU node you cannot commit from, packed into one archive to bring back.
#
#   OUT=/somewhere BUDGET_MIN=5 GCNN_DATA_DIR=/data [WHEELHOUSE=.whl] [PY=python3] [JOBS=1] [TABLES=...] [SKIP=...]
#   [BENCH_ARGS="--steps 20"] scripts/gpu_stint.sh
#
# 1. With WHEELHOUSE: installs its wheels into PY (`make install PY=... WHEELHOUSE=...`, offline).
# 2. On a GPU, one-batch smoke runs of a group SegNet and a group classifier on the device (a broken path stops here).
# 3. The first stint on a GPU model (no results/bench/training_cuda*_on_<gpu>.md) runs `make bench-train DEVICE=cuda`.
# 4. `make reproduce` with the W&B logger off, within BUDGET_MIN minutes: a run starts when it fits, a long one
#    stops after its last epoch that fits (the same command resumes it): give the node BUDGET_MIN and a margin.
# 5. Measures the equivariance of the runs finished here and redraws the training curves and Figures 2-3
#    (`make figures`; the checkpoints stay here, so this is the one place it can be done). The report keeps the
#    rows of runs measured elsewhere; the angle sweep and Figure 1 need every classifier here and are left out.
# 6. Packs what a clone keeps into $OUT/stint.tar.gz: the tables, claims, equivariance report, figures and small
#    run records of RESULTS (never checkpoints or W&B files), the CUDA benchmark files and, for results/full,
#    README.md with its Results block rewritten (`make readme-results`). Back home:
#    tar -xzf stint.tar.gz && git add results README.md && git commit -m "full reproduction: more runs (<device>)"
set -uo pipefail
: "${OUT:?set OUT to the folder that comes back}" "${BUDGET_MIN:?set BUDGET_MIN (minutes; no new run starts after)}"
PY=${PY:-python3}
RESULTS=${RESULTS:-results/full}
# The runs here use the W&B logger off, the real data and no SLURM: `make install` need not find those packages.
export SKIP=${SKIP-wandb mlxtend hydra-submitit-launcher}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
log() { echo "[stint $(date +%H:%M:%S)] $*"; }

if [ -n "${WHEELHOUSE:-}" ]; then
  make --no-print-directory install PY="$PY" WHEELHOUSE="$WHEELHOUSE" || exit 1
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

# On a GPU, a one-batch run of a group SegNet and a group classifier first: a device path that breaks stops the
# stint in seconds, not after the budget (its folder is thrown away).
if "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  smoke=$(mktemp -d)
  for run in "experiment=table3 model=p4segnet" "experiment=table2_written model=p4cnn"; do
    log "smoke: $run"
    # shellcheck disable=SC2086
    "$PY" -m gcnn_study.train $run trainer.epochs=1 trainer.limit_train_batches=2 logger=none paths.results_dir="$smoke" \
      || { log "smoke run failed: $run"; exit 1; }
  done
  rm -rf "$smoke"
fi

status=0
# The GPU model as the benchmark names its reports (gcnn_study.run.provenance.hardware_slug); empty without a GPU.
gpu=$(PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c "import torch; from gcnn_study.run.provenance import hardware_slug as s; print(s('cuda') if torch.cuda.is_available() else '')")
if [ -n "$gpu" ] && ! compgen -G "results/bench/training_cuda*_on_${gpu}.md" >/dev/null; then
  log "make bench-train DEVICE=cuda"
  make --no-print-directory bench-train PY="$PY" DEVICE=cuda BENCH_ARGS="${BENCH_ARGS:-}" || status=$?
fi
log "make reproduce BUDGET_MIN=$BUDGET_MIN"
make --no-print-directory reproduce PY="$PY" RESULTS="$RESULTS" BUDGET_MIN="$BUDGET_MIN" JOBS="${JOBS:-1}" ARGS="logger=none ${ARGS:-}" \
  ${TABLES:+TABLES="$TABLES"} ${MODELS:+MODELS="$MODELS"} ${CLS_ARGS:+CLS_ARGS="$CLS_ARGS"} ${SEG_ARGS:+SEG_ARGS="$SEG_ARGS"} \
  || status=$?

# The report and figures of the runs finished here: tests/gcnn_study/report/test_committed_results.py fails on a report that does
# not measure every finished record, and only this machine has these runs' checkpoints.
log "make figures RESULTS=$RESULTS"
make --no-print-directory figures PY="$PY" RESULTS="$RESULTS" FIG_ARGS="--only equivariance curves figure2 figure3" \
  || log "make figures drew nothing (no run with a checkpoint here?)"

# The README's Results block is written from results/full's records (tests/gcnn_study/report/test_committed_results.py).
readme=
if [ "$RESULTS" = results/full ]; then
  make --no-print-directory readme-results PY="$PY" && readme=README.md || status=1
fi
# What git keeps of RESULTS (see .gitignore): tables, claims, and each run's small records (gcnn_study.run.records.RECORDS,
# asked of the code that writes them, as find's "-name a -o -name b ...").
kept=$(PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c 'from gcnn_study.run.records import RECORDS; print(" -o ".join(f"-name {r}" for r in RECORDS))')
{
  [ -n "$readme" ] && echo "$readme"
  find "$RESULTS" -maxdepth 1 -type f \( -name '*.md' -o -name '*.csv' \)
  find "$RESULTS/figures" -type f \( -name '*.png' -o -name '*.csv' \) 2>/dev/null
  # shellcheck disable=SC2086  # $kept is find's expression, one word per argument
  find "$RESULTS/runs" -type f \( $kept \) -not -path '*/.hydra/*' -not -path '*/previous/*' 2>/dev/null
  find results/bench -type f \( -name '*_cuda*' -o -name rates.csv \) 2>/dev/null
} | sort > "$OUT/stint_files.txt"
tar -czf "$OUT/stint.tar.gz" -T "$OUT/stint_files.txt"
log "packed $(wc -l < "$OUT/stint_files.txt") files into $OUT/stint.tar.gz; finished runs: $(grep -c metrics.json "$OUT/stint_files.txt")"
exit $status
