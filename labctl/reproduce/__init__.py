"""`labctl reproduce`: the paper's experiment end to end (sweep, train the four modes, program and
validate every die, report), on the simulated wafer or a station."""
