# The two commands a new user needs. Each installs what it needs by itself.
.PHONY: demo test bench lint

demo:
	scripts/bootstrap $(if $(findstring claude,$(ARGS)),--with-claude,)
	.venv/bin/controller demo $(ARGS)

test:
	scripts/bootstrap --with-claude --with-netns
	.venv/bin/python -m pytest $(ARGS)

bench:
	scripts/bootstrap
	.venv/bin/python -m tests.bench $(ARGS)

lint:
	scripts/bootstrap
	.venv/bin/ruff check controller tests
	.venv/bin/ruff format --check controller tests
