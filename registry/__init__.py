"""A Confluent-compatible schema registry whose storage is a compacted Kafka topic."""
