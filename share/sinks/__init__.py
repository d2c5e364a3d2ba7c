"""Sinks an app runs to receive its projection somewhere other than Kafka (its database, a URL)."""
