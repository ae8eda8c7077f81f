"""The module registry service: an app on the framework where modules are published, checked,
approved and installed per company (tenant), with their packages, health and events.

Run it with ``integrate run --config-dir module_registry/conf``; its parts are components
(``database``, ``packages``, ``api``) configured by the YAML files in ``module_registry/conf``.
"""
