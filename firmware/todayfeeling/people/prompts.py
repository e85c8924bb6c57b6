"""Spoken prompts for the guided enrolment: espeak-ng renders each text offline, pygame's mixer plays it.

A text is rendered the first time it is said (espeak-ng writes a WAV to its stdout, a few milliseconds) and
kept in memory as a ``pygame.mixer.Sound``; nothing is written to disk. Speech is an extra: when espeak-ng
is not installed, no audio output opens, or rendering fails, :class:`Speech` says why in ``off_reason``
and every later ``say`` is silent, so the prompts are on the terminal only. It never raises for that.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import time

import pygame

from todayfeeling.music.player import MIXER_BUFFER, MIXER_ERRORS

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
WORDS_PER_MINUTE = 150  # a little slower than espeak-ng's 175: said across a room
RENDER_TIMEOUT_S = 10.0
END_CHECK_S = 0.05  # how often to look whether a prompt has finished, once its length has passed
END_GRACE_S = 1.0  # how long past its length a prompt may still be playing (the mixer's buffer)


class Speech:
    """Says texts aloud through the default audio output; silent, with ``off_reason`` set, where it cannot."""

    def __init__(self, command: str = ESPEAK, voice: str = "en") -> None:
        self._command = command
        self._voice = voice
        self._sounds: dict[str, pygame.mixer.Sound] = {}
        self._channel: pygame.mixer.Channel | None = None
        self.off_reason = "not started"

    def start(self) -> str:
        """Find espeak-ng and open the audio output; "" when speech is on, else the reason it is off."""
        if shutil.which(self._command) is None:
            return self._off(f"{self._command} is not installed (apt install espeak-ng)")
        try:
            pygame.mixer.init(buffer=MIXER_BUFFER)
            self._channel = pygame.mixer.Channel(0)
        except MIXER_ERRORS as err:
            return self._off(f"no audio output ({err})")
        self.off_reason = ""
        return ""

    def say(self, text: str, wait: bool = False) -> None:
        """Say ``text``. ``wait``: stop what is being said, say this and return when it is over; otherwise
        say it only when nothing else is being said (a hint never talks over an instruction)."""
        if self._channel is None:
            return
        sound = self._sound(text)
        if sound is None:
            return
        if not wait:
            if not self._channel.get_busy():
                self._channel.play(sound)
            return
        self._channel.stop()
        self._channel.play(sound)
        time.sleep(sound.get_length())
        deadline = time.monotonic() + END_GRACE_S
        while self._channel.get_busy() and time.monotonic() < deadline:
            time.sleep(END_CHECK_S)

    def close(self) -> None:
        """Close the audio output (again: harmless)."""
        if self._channel is not None:
            self._channel = None
            self._sounds.clear()
            pygame.mixer.quit()

    def _sound(self, text: str) -> pygame.mixer.Sound | None:
        if text not in self._sounds:
            try:
                wav = subprocess.run([self._command, "-v", self._voice, "-s", str(WORDS_PER_MINUTE), "--stdout",
                                      text], capture_output=True, check=True, timeout=RENDER_TIMEOUT_S).stdout
                self._sounds[text] = pygame.mixer.Sound(file=io.BytesIO(wav))
            except subprocess.CalledProcessError as err:
                self._off(f"{self._command} failed: {err.stderr.decode(errors='replace').strip() or err}")
                return None
            except (OSError, subprocess.TimeoutExpired, pygame.error) as err:
                self._off(f"{self._command} gave no playable speech: {err}")
                return None
        return self._sounds[text]

    def _off(self, reason: str) -> str:
        if self._channel is not None:
            self.close()
        log.warning("speech is off: %s", reason)
        self.off_reason = reason
        return reason
