"""The newsfeed benchmark harness (issue 8): `make bench` or `python -m bench`.

Every measured thing runs on a redis-server of its own and the services as
separate processes; every figure is a median of several runs, and where it
can be a ratio against a baseline measured in the same run. Results are
printed as a table and written to bench/results/latest.json. See
docs/performance.md for what is measured, how, and what the figures say.
"""
