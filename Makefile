# Entry points; each target is one script (see README.md).
#   make bench                 every benchmark in bench/, then docs/benchmarks.md
#   make bench ARGS=--quick    the same at small sizes (a smoke run)
#   make test                  scripts/test.sh (ARGS go to pytest)
#   make deb                   dist/callcue_<version>_amd64.deb (installer/build.py deb; docs/deployment.md)

.PHONY: bench test deb

bench:
	bash scripts/bench.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

deb:
	.venv/bin/python installer/build.py deb $(ARGS)
