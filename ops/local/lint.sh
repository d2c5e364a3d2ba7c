#!/usr/bin/env bash
# Static checks: ruff on the repository; mypy (strict) and the import rules of pyproject.toml
# (lint-imports) on the package as it installs, through the link tree of ops/local/linktree.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/ruff check .
tree=$(.venv/bin/python ops/local/linktree.py)
(cd "$tree" && ../../.venv/bin/mypy --config-file ../../pyproject.toml)
(cd "$tree" && PYTHONPATH=. ../../.venv/bin/lint-imports --no-cache ../../pyproject.toml)
