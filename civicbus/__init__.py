"""civicbus: the one console command, and the Kafka plumbing every component shares."""
