"""`python -m gcnn_study.reproduce`: the reproduction's command line (gcnn_study.reproduce.cli)."""

import sys

from gcnn_study.reproduce.cli import main

if __name__ == "__main__":
    sys.exit(main())
