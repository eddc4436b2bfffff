"""The `labctl` command line: one module per sub-command group, each with `register()`."""
