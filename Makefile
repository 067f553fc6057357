# One command for everything CI checks, plus lint and types.
.PHONY: check test lint types screenshots

check: lint types test

lint:
	uv run ruff format --check src tests benchmarks scripts
	uv run ruff check src tests benchmarks scripts

types:
	uv run mypy

test:
	uv run pytest

screenshots:
	uv run python scripts/screenshots.py
