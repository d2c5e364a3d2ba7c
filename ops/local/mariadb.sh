#!/usr/bin/env bash
# Ensure a MariaDB server for the tests: Debian's package when missing, an instance of its own
# on port ${CIVICBUS_MARIADB_PORT:-33069} (data in /var/lib/civicbus-mariadb) with a
# civicbus/civicbus user and database. Prints the SQLAlchemy URL on its last line. Idempotent.
set -euo pipefail
PORT=${CIVICBUS_MARIADB_PORT:-33069}
DATA=/var/lib/civicbus-mariadb
SOCK=$DATA/mysqld.sock
if ! command -v mariadbd >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "mariadb missing: sudo apt-get install mariadb-server" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi
if [ ! -d "$DATA/mysql" ]; then
  mkdir -p "$DATA" && chown mysql:mysql "$DATA"
  mariadb-install-db --user=mysql --datadir="$DATA" --skip-test-db >/dev/null
fi
# the row binlog (log-based capture, type binlog): a server started before without it restarts
if mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 \
  && [ "$(mariadb --socket="$SOCK" -N -e 'SELECT @@log_bin')" != 1 ]; then
  mariadb-admin --socket="$SOCK" shutdown
fi
if ! mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1; then
  setsid mariadbd --user=mysql --datadir="$DATA" --port="$PORT" --bind-address=127.0.0.1 \
    --socket="$SOCK" --pid-file="$DATA/civicbus.pid" --character-set-server=utf8mb4 \
    --innodb-buffer-pool-size=64M --log-error="$DATA/error.log" \
    --log-bin="$DATA/binlog" --server-id=1 --binlog-format=ROW --binlog-row-image=FULL \
    --binlog-row-metadata=FULL --expire-logs-days=2 </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 || { tail -n 20 "$DATA/error.log" >&2; exit 1; }
fi
mariadb --socket="$SOCK" -e "CREATE DATABASE IF NOT EXISTS civicbus CHARACTER SET utf8mb4;
  CREATE USER IF NOT EXISTS 'civicbus'@'%' IDENTIFIED BY 'civicbus';
  CREATE USER IF NOT EXISTS 'civicbus'@'localhost' IDENTIFIED BY 'civicbus';
  GRANT ALL ON *.* TO 'civicbus'@'%' WITH GRANT OPTION;
  GRANT ALL ON *.* TO 'civicbus'@'localhost' WITH GRANT OPTION;"
echo "mysql+pymysql://civicbus:civicbus@127.0.0.1:${PORT}/civicbus?charset=utf8mb4"
