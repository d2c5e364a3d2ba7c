"""Sharing with downstream apps: grants (reviewed files entitling an app to fields of views)."""
