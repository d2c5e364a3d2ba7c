"""Stream processors that join departments' events into unified views (declared in YAML)."""
