"""Today Feeling: recognise the room's mood from the camera and play music that fits."""

__version__ = "0.1.0"
