"""Wafer summaries, tables and figures made from wafer files (above the store and analysis)."""
