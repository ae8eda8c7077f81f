"""Installing modules from a module registry into a running app (the ``modules`` section)."""
