"""`python -m gcnn.figures --results-dir <folder> [--n-images N] [--device cpu]`"""

import sys

from gcnn.figures.draw import main

sys.exit(main())
