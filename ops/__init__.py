"""What operations staff run and watch: the local Kafka broker, metrics, logs, dashboards."""
