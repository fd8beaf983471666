"""Developer tools: the dev stack (devstack), `make run` (run_local), generators, evaluation."""
