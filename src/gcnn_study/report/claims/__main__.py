"""`python -m gcnn_study.report.claims`: check the study's claims against a results folder's tables."""

from gcnn_study.report.claims import main

if __name__ == "__main__":
    main()
