"""Analysis of measured reads: per-cell classification into states and defects (classify), and
conductance from capped readings (conductance).

Pure numerics on arrays; the store and the reports build on it."""
