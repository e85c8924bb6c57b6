"""Real audio files for the music tests: short tones written as wav, ogg, flac or mp3, and a music folder."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import soundfile

RATE = 22050


def tone(seconds: float = 0.4, frequency: float = 440.0) -> np.ndarray:
    """A quiet sine tone with soft edges, as float samples."""
    t = np.arange(int(RATE * seconds)) / RATE
    edges = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    return 0.3 * np.sin(2 * np.pi * frequency * t) * edges


def write_track(path: Path, seconds: float = 0.4, frequency: float = 440.0) -> Path:
    """Write a tone to ``path`` in the format its suffix names (wav with the stdlib, others with libsndfile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = tone(seconds, frequency)
    if path.suffix == ".wav":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes((samples * 32767).astype("<i2").tobytes())
    else:  # in blocks: libsndfile's Vorbis encoder crashes on one large write
        with soundfile.SoundFile(str(path), "w", RATE, 1, format=path.suffix[1:].upper()) as out:
            for start in range(0, len(samples), 8192):
                out.write(samples[start:start + 8192])
    return path


def write_partial_copy(path: Path, seconds: float, kept: float) -> Path:
    """A track of ``seconds`` whose copy stopped after the first ``kept`` (0-1) of its bytes: its header
    still claims the whole length."""
    data = write_track(path, seconds).read_bytes()
    path.write_bytes(data[:int(len(data) * kept)])
    return path


def write_corrupt(path: Path) -> Path:
    """A file named like audio that is not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"OggS but not really" * 50)
    return path


def music_folder(root: Path, layout: dict[str, list[str]], seconds: float = 0.4) -> Path:
    """Create ``root/<folder>/<name>`` tracks: ``{"happiness": ["a.ogg", "sub/b.wav"], ...}``."""
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            write_track(root / folder / name, seconds, 330.0 + 55.0 * i)
    return root


# pygame replaces a sub-module whose import fails with a MissingModule whose every attribute raises
# NotImplementedError. Its mixer fails so on a system without the libraries its bundled fluidsynth links
# (libglib2.0-0 on a minimal Debian); a None in sys.modules makes that import fail the same way.
_WITHOUT_MIXER = ("import runpy, sys; sys.modules['pygame.mixer'] = None; "
                  "runpy.run_module('todayfeeling', run_name='__main__')")


def todayfeeling_without_mixer(*args: str) -> list[str]:
    """The command line of `python -m todayfeeling ARGS` in a process whose pygame has no mixer."""
    return [sys.executable, "-c", _WITHOUT_MIXER, *args]
