"""``python -m genmodels`` (and ``torchrun -m genmodels train ...``)."""

import sys

from .cli import main

sys.exit(main())
