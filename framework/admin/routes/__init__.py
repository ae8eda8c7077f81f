"""The admin API's routers, one per area: health probes, the app, its config, its events."""
