"""Service layer: what the CLI, the GUI and `reproduce` share (docs/architecture.md)."""
