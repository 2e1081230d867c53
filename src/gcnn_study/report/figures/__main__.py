"""`python -m gcnn_study.report.figures --results-dir <folder> [--n-images N] [--device cpu]`"""

import sys

from gcnn_study.report.figures.draw import main

sys.exit(main())
