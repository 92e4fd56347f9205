# The README's two commands are `make demo` and `make test`; both set everything up themselves.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bootstrap clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(BIN)/wit run examples/primes.wit n=20000

test:
	@scripts/bootstrap.sh chromium blender ffmpeg
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo 'make test: pytest collected no tests' >&2; exit 1; fi; exit $$rc

lint: bootstrap
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: bootstrap
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache wit-out
