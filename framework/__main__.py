"""`python -m framework` is the `integrate` command.

Like the `integrate` script, and unlike what `python -m` does by default, it does not import
from the working directory first: a `json.py` or `sqlite3.py` there would shadow the standard
library. The registry imports the project's own allowed packages from it, and only those.
"""

import os
import sys

if not sys.flags.safe_path and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from framework.cli import main  # noqa: E402  (after the working directory left sys.path)

sys.exit(main())
