"""Console orchestration of wafer sweeps: running a procedure, progress, log file, summary."""
