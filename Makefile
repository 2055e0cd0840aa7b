# Entry points; each target is one script (see README.md).
#   make bench                 every benchmark in bench/, then docs/benchmarks.md
#   make bench ARGS=--quick    the same at small sizes (a smoke run)
#   make test                  scripts/test.sh (ARGS go to pytest)

.PHONY: bench test

bench:
	bash scripts/bench.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)
