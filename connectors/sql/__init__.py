"""Query-based capture from SQL databases (SQLite, PostgreSQL, MySQL/MariaDB) via SQLAlchemy 2."""
