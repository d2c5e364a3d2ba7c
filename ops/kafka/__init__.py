"""The local single-node Apache Kafka broker (KRaft), resolved from Maven Central."""
