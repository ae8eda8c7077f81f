"""`python -m framework` is the `integrate` command."""

import sys

from framework.cli import main

sys.exit(main())
