"""Configuration: compose, provenance, schema, snapshot, watch and reload."""
