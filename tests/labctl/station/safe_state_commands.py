"""The exact (role, message) order of Station.safe_state(), shared by every test that checks it."""

SAFE_STATE = [
    ("read_smu", ":ABOR"),
    ("read_smu", ":SOUR:VOLT:LEV 0"),
    ("read_smu", "OUTPUT OFF"),
    ("read_smu", "OUTPUT?"),
    ("read_smu", ":SOUR:VOLT?"),
    ("gate_smu", ":ABOR"),
    ("gate_smu", ":SOUR:VOLT:LEV 0"),
    ("gate_smu", "OUTPUT OFF"),
    ("gate_smu", "OUTPUT?"),
    ("gate_smu", ":SOUR:VOLT?"),
    ("controller", "DESEL"),
    ("controller", "ROUT?"),
    ("prober", "MoveChuckSeparation 100"),
    ("prober", "ReadChuckPosition Y Z"),
]
