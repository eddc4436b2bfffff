"""Wafer sweeps as a service: the settings spec, the plan, and run / pause / abort / resume
(service.py), with the log file, console progress and summary they attach."""
