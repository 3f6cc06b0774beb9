"""`python -m rnnbow_desktop`: the same as the `rnnbow` command."""

import sys
from .cli import main

sys.exit(main())
