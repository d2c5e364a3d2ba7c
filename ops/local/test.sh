#!/usr/bin/env bash
# The test command (README, .ci/run): set up, start PostgreSQL and MariaDB, install promtool, lint,
# type-check, pytest.
# The Kafka broker is started by the test session itself (tests/conftest.py) on its own ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/local/setup.sh
if ! command -v promtool >/dev/null; then  # alert rules are checked and unit-tested by the real promtool
  [ "$(id -u)" = 0 ] || { echo "promtool missing: sudo apt-get install prometheus" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
CIVICBUS_TEST_POSTGRES_URL=$(bash ops/local/postgres.sh | tail -n 1)
export CIVICBUS_TEST_POSTGRES_URL
CIVICBUS_TEST_MARIADB_URL=$(bash ops/local/mariadb.sh | tail -n 1)
export CIVICBUS_TEST_MARIADB_URL
bash ops/local/lint.sh
exec .venv/bin/pytest "$@"
