"""`python -m mailgate.cli`: the same as the `mailgate` script."""

import sys

from mailgate.cli import main

sys.exit(main())
