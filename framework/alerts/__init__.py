"""Alerts: the ``alerts`` section routes chosen events (``error.*`` above all) to sinks.

settings.py (the section's schema, its typed view, the check of sink names), sink.py (the
``AlertSink`` contract and the log sink), webhook.py (POSTing an alert, retried), router.py
(matching, severity, the rate-limit window, dispatch; reconfigured live).
"""
