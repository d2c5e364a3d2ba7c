#!/usr/bin/env bash
# Ensure a PostgreSQL server for the tests: Debian's package when missing, a cluster named
# "civicbus" on port ${CIVICBUS_PG_PORT:-54329} with a civicbus/civicbus role and database.
# Prints the SQLAlchemy URL on its last line. Idempotent.
set -euo pipefail
PORT=${CIVICBUS_PG_PORT:-54329}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "postgresql missing: sudo apt-get install postgresql" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
VER=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx civicbus; then
  pg_createcluster "$VER" civicbus -p "$PORT" -- --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi
# logical decoding (wal_level=logical): log-based capture, and Debezium in bench/peer_debezium.py
if [ "$(pg_conftool "$VER" civicbus show wal_level 2>/dev/null | awk '{print $3}')" != logical ]; then
  pg_conftool "$VER" civicbus set wal_level logical
  if pg_lsclusters -h | awk '$2=="civicbus"{print $4}' | grep -qx online; then
    pg_ctlcluster "$VER" civicbus restart
  fi
fi
if ! pg_lsclusters -h | awk '$2=="civicbus"{print $4}' | grep -qx online; then
  pg_ctlcluster "$VER" civicbus start
fi
runuser -u postgres -- psql -p "$PORT" -qtAc "SELECT 1 FROM pg_roles WHERE rolname='civicbus'" | grep -q 1 \
  || runuser -u postgres -- psql -p "$PORT" -qc "CREATE ROLE civicbus LOGIN SUPERUSER PASSWORD 'civicbus'"
runuser -u postgres -- psql -p "$PORT" -qtAc "SELECT 1 FROM pg_database WHERE datname='civicbus'" | grep -q 1 \
  || runuser -u postgres -- psql -p "$PORT" -qc "CREATE DATABASE civicbus OWNER civicbus"
echo "postgresql+psycopg://civicbus:civicbus@127.0.0.1:${PORT}/civicbus"
