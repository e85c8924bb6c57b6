"""Today Feeling: recognise the room's mood from the camera and play music that fits."""

import os

__version__ = "0.1.0"

# pygame greets on stdout when imported; the CLI's stdout is for results only.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
