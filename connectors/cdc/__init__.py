"""Log-based capture: sources that follow a database's own change log (PostgreSQL's WAL through
``pgoutput``, MySQL/MariaDB's row binlog) and snapshot tables between the log's events with the
DBLog watermark algorithm (window.py)."""
