# The two commands a newcomer needs.  Both are idempotent.
.PHONY: demo test

demo:  ## set everything up, then run the demo (Ctrl-C stops it)
	bash ops/local/setup.sh
	.venv/bin/civicbus demo

test:  ## set up, start PostgreSQL, lint, type-check and run every test
	bash ops/local/test.sh
