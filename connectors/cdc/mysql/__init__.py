"""MySQL/MariaDB row binlog as a civicbus source."""
