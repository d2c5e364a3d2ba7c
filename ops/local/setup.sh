#!/usr/bin/env bash
# Set up a fresh machine for civicbus: system packages (Java 17, Maven) when missing, the Python
# environment in .venv, and the pinned Kafka release from Maven Central. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "civicbus setup: missing $*; install them (sudo apt-get install $*) and re-run" >&2; exit 1
  fi
  [ -n "${CIVICBUS_APT_UPDATED:-}" ] || { apt-get update -qq; export CIVICBUS_APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "civicbus setup: Python 3.11+ needed, found $("$PY" --version)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.civicbus-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
.venv/bin/python -c 'from civicbus.ops.kafka import broker, settings; broker.resolve(settings.BrokerSettings())'
echo "civicbus setup: ready (.venv, Kafka jars in .civicbus/kafka/lib)"
