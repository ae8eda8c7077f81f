"""An example module for the module registry: a component that says its greeting."""
