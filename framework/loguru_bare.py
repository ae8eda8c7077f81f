"""Importing this imports loguru without the stderr handler loguru adds on import.

The CLI imports it before anything else: every verb configures logging itself (with secrets
masked), so loguru's default handler would only be built and removed again, about 3% of a
start-up. Library users, who never import the CLI, keep loguru's default. LOGURU_AUTOINIT is
loguru's documented switch; it is restored at once, so child processes see their environment.
"""

import os
import sys

if "loguru" not in sys.modules:
    _before = os.environ.get("LOGURU_AUTOINIT")
    os.environ["LOGURU_AUTOINIT"] = "False"
    try:
        import loguru  # noqa: F401
    finally:
        if _before is None:
            del os.environ["LOGURU_AUTOINIT"]
        else:
            os.environ["LOGURU_AUTOINIT"] = _before
