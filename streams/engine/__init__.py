"""How views run on Kafka: consumed in batches, folded, written in one transaction per batch."""
