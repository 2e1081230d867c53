"""`python -m gcnn_study.report.ablation --results-dir <folder> [--layers]`: the P6 ablation's tables."""

from gcnn_study.report.ablation import main

main()
