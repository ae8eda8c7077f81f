"""The framework's version; modules read it here, never from the package root."""

__version__ = "0.1.0"
