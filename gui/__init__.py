"""labctl gui package."""

from labctl.core.extras import require_extra

# The window is PyQt6 with pyqtgraph plots: the `gui` extra.
require_extra("gui", "PyQt6", "pyqtgraph")
