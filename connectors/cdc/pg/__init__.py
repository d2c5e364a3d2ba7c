"""PostgreSQL logical replication (pgoutput) as a civicbus source."""
