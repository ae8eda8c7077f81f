"""The admin HTTP API: a component that serves a FastAPI app built from small routers.

``server`` runs uvicorn inside the app's event loop; ``api`` builds the FastAPI app from the
routers in ``routes``; ``views`` turn the app's objects into JSON-friendly data; ``metrics``
renders them for Prometheus. Everything here reads the app through ``types.AdminView`` and
imports nothing above it (never ``framework.app``).
"""
