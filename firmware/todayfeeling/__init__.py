"""Today Feeling: recognise the room's mood from the camera and play music that fits."""

import os

__version__ = "0.1.0"

MAX_IMAGE_PIXELS = 40_000_000
"""The largest image decoded (about 7700 x 5200): OpenCV refuses larger ones before allocating them, so a
small file that declares a huge picture (a decompression bomb) cannot exhaust a Pi's memory. Read by
OpenCV at its first decode; set before anything of this package decodes an image."""

# pygame greets on stdout when imported; the CLI's stdout is for results only.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# SDL would catch SIGINT and SIGTERM for an event loop that this program does not have: leave them to Python.
os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(MAX_IMAGE_PIXELS)
# numpy's OpenBLAS starts a thread per core, and after each call they spin waiting for more work. Our matrices
# are tiny (a face's 2x2 alignment, a 512-number embedding), so those threads only add CPU: on the arm64 build,
# emulated, a frame cost 3.9 s of CPU against 1.2 s with one thread (benchmarks/README.md). One thread per
# stage, as the TFLite models run. Read when numpy is first imported: set before anything imports it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
