"""Tests of the module registry service, run as a real `integrate run` subprocess."""
