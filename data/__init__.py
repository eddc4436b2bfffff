"""labctl's shipped data files, installed as the package ``labctl_data`` (pyproject.toml maps it
to this folder) and found at run time through importlib.resources: use
:func:`labctl.core.resources.data_file`, never a path built from the source tree."""
