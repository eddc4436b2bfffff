"""A station: its instruments, limits and safe state, identical for real and simulated benches."""
