"""The public Python API: open a session read-only, train headless into a session file.

`rnnbow_desktop.open_session` and `rnnbow_desktop.train` are these; docs/api.md documents them.
The command line and the examples use them too.
"""

from .session import OpenSession, open_session
from .training import train

__all__ = ["OpenSession", "open_session", "train"]
