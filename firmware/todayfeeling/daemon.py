"""The always-on appliance: camera → faces → emotions → mood → music and MQTT, in one main loop.

The main thread owns the camera, the vision pipeline, the mood tracker and the history; the music player and
the MQTT client keep their own threads. Requests from other threads (MQTT commands, signals) are handed to
the main loop, which applies them between frames and wakes at once for them: nothing waits busily.

Frame rate adapts: ``idle_fps`` while nobody is in view (an idle appliance costs little), ``active_fps``
while faces are present. Finite sources (a video file, a folder) run as fast as they are read (or as
``--fps`` paces them) and end the run after their last frame.
"""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from todayfeeling import __version__
from todayfeeling.app_config import AppConfig
from todayfeeling.camera import ResilientSource, SourceStatus
from todayfeeling.camera.base import FrameSource
from todayfeeling.emotions import EMOTIONS, NO_MOOD
from todayfeeling.history import MoodHistory
from todayfeeling.inference.pipeline import FacePipeline, FrameResult
from todayfeeling.mood import FaceObservation, MoodEvent, MoodState, MoodTracker
from todayfeeling.service import ServiceNotifier

log = logging.getLogger(__name__)

CPU_TEMPERATURE = Path("/sys/class/thermal/thermal_zone0/temp")
PRIVACY_WAIT_S = 5.0  # how long an MQTT privacy command waits for the main loop to apply it
MAX_FAILED_FRAMES = 10  # unexpected errors in a row before the loop gives up (one bad frame is survived)
STOP_FADE_MAX_MS = 2000  # the music's fade-out on a stop, at most (a long configured fade would hold it up)


class StageTimes:
    """Per-stage milliseconds as moving averages, and frames per second."""

    def __init__(self, weight: float = 0.1) -> None:
        self._weight = weight
        self.ms: dict[str, float] = {}
        self._frames: list[float] = []

    def add(self, ms: dict[str, float], at: float) -> None:
        """Fold one frame's timings in."""
        for stage, value in ms.items():
            old = self.ms.get(stage)
            self.ms[stage] = value if old is None else old + self._weight * (value - old)
        self._frames = [t for t in self._frames if at - t < 10.0] + [at]

    @property
    def fps(self) -> float:
        """Frames per second over the last ten seconds."""
        if len(self._frames) < 2:
            return 0.0
        return (len(self._frames) - 1) / max(self._frames[-1] - self._frames[0], 1e-6)


class Appliance:
    """Runs the appliance until stopped (or until a finite source ends); see the module docstring.

    ``music`` and ``mqtt`` may be None (no music, no broker). Public ``request_*`` methods and the
    :class:`~todayfeeling.mqtt.commands.CommandHandler` methods are safe to call from any thread.
    """

    def __init__(self, config: AppConfig, source: FrameSource | ResilientSource, pipeline: FacePipeline, *,
                 music: Any = None, mqtt_factory: Callable[[Appliance], Any] | None = None,
                 history: MoodHistory | None = None, notifier: ServiceNotifier | None = None,
                 reload_config: Callable[[], AppConfig] | None = None) -> None:
        self.config = config
        self.source = source
        self.pipeline = pipeline
        self.music = music
        self.history = history
        self.notifier = notifier or ServiceNotifier()
        self._reload_config = reload_config
        self.tracker = MoodTracker(config.mood, now=time.monotonic())
        self.times = StageTimes()
        self._started = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reload_requested = False
        self._privacy_wanted = config.daemon.privacy
        self._privacy = False
        self._privacy_applied = threading.Condition(self._lock)
        self._degraded = False
        self._next_status = 0.0
        self._next_stats = 0.0
        self._next_edgetpu_retry = 0.0
        self._next_checkpoint = 0.0
        self.frames = 0
        self._playing: tuple[str, str] | None = None  # (playlist, track) while playing
        self.mqtt = mqtt_factory(self) if mqtt_factory else None
        if music is not None:
            music.add_listener(self._on_player_state)

    # ----------------------------------------------------------------------------- from any thread
    def request_stop(self) -> None:
        """End the run after the current frame (SIGTERM, SIGINT)."""
        with self._privacy_applied:  # a privacy command waiting for the loop must not hold up the stop
            self._stop.set()
            self._privacy_applied.notify_all()
        self._wake.set()

    def request_reload(self) -> None:
        """Re-read the config file between frames (SIGHUP)."""
        with self._lock:
            self._reload_requested = True
        self._wake.set()

    def request_privacy(self, on: bool) -> None:
        """Turn privacy mode on (camera released, mood ``none``) or off, between frames."""
        with self._lock:
            self._privacy_wanted = on
        self._wake.set()

    def set_privacy(self, on: bool) -> bool:
        """MQTT command: privacy on/off; waits briefly until the main loop applied it, returns the state."""
        self.request_privacy(on)
        with self._privacy_applied:
            self._privacy_applied.wait_for(lambda: self._privacy == on or self._stop.is_set(),
                                           timeout=PRIVACY_WAIT_S)
            return self._privacy

    def set_music_mode(self, mode: str) -> str:
        """MQTT command: the music mode in effect afterwards."""
        if self.music is None:
            return "off"
        self.music.set_mode(mode)
        return self.music.state()["mode"]

    def set_volume(self, volume: int) -> int:
        """MQTT command: the volume in effect afterwards."""
        if self.music is None:
            return 0
        return self.music.set_volume(volume)  # the player's state may not show it yet

    def player_command(self, command: str) -> None:
        """MQTT command: play, pause, next or stop."""
        if self.music is not None:
            self.music.command(command)

    # ------------------------------------------------------------------------------- main thread
    def run(self) -> int:
        """The main loop; returns the exit status. A source that cannot open raises its CameraError after
        every stage has been stopped."""
        source_ended = False
        failures = 0
        try:
            self._start()
            while not self._stop.is_set():
                self.notifier.tick()
                self._apply_requests()
                started = time.monotonic()
                try:
                    if not self._privacy and not self._step():
                        source_ended = True  # a video file or folder has no more frames
                        break
                    self._periodic(time.monotonic())
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("a frame failed (%d in a row)", failures)
                    if failures >= MAX_FAILED_FRAMES:
                        raise  # something is broken for good: end, so that systemd restarts the service
                self._pause(started)
        finally:
            self._shutdown(source_ended)
        return 0

    def _start(self) -> None:
        if self.mqtt is not None:
            self.mqtt.start()
        self.source.open()
        with self._lock:
            wanted = self._privacy_wanted
        if wanted:
            self._set_privacy(True)
        self._publish_state()
        if self.mqtt is not None:
            self.mqtt.publish_privacy(self._privacy)
            if self.music is not None:
                player = self.music.state()
                self.mqtt.publish_music_mode(player["mode"])
                self.mqtt.publish_player_state(player)
        self.notifier.ready(self._status_line())
        log.info("running: source %s, backend %s", self.source.name, self.pipeline.backend.actual)

    def _step(self) -> bool:
        """One frame through every stage; False when a finite source has ended."""
        frame = self.source.read() if self.source.is_finite else self.source.read(timeout=1.0)
        if frame is None:
            return not self.source.is_finite
        result = self.pipeline.process(frame.image)
        now = time.monotonic()
        self.frames += 1
        self.times.add(result.ms, now)
        before = self.tracker.state
        events = self.tracker.update(now, _observations(result))
        self._handle(events, before)
        self._watch_backend()
        return True

    def _handle(self, events: list[MoodEvent], before: MoodState) -> None:
        self._dispatch(events)
        state = self.tracker.state
        if (state.mood, state.faces) != (before.mood, before.faces):
            self._publish_state()

    def _dispatch(self, events: list[MoodEvent]) -> None:
        for event in events:
            self._publish_event(event.event_type, **event.details)
            if event.event_type == "mood_changed":
                self._on_mood_changed()

    def _on_mood_changed(self) -> None:
        state = self.tracker.state
        log.info("mood: %s (confidence %.2f, %d face(s))", state.mood, state.confidence, state.faces)
        if self.history is not None:
            self.history.record(state.mood, state.confidence, time.time())
        if self.music is not None:
            self.music.on_mood(state.mood, state.confidence)

    def _watch_backend(self) -> None:
        backend = self.pipeline.backend
        if backend.degraded == self._degraded:
            return
        self._degraded = backend.degraded
        if backend.degraded:
            log.warning("detector fell back to the CPU: %s", backend.reason)
            self._publish_event("detector_fallback", backend=backend.actual, reason=backend.reason)
        else:
            log.info("Edge TPU is back")
            self._publish_event("detector_recovered", backend=backend.actual)

    def _periodic(self, now: float) -> None:
        if self._degraded and now >= self._next_edgetpu_retry:
            self._next_edgetpu_retry = now + self.config.daemon.edgetpu_retry_s
            for model in (self.pipeline.detector.model, self.pipeline.classifier.model):
                model.retry_edgetpu()
            self._watch_backend()
        if now >= self._next_status:
            self._next_status = now + self.config.daemon.status_interval_s
            self.notifier.status(self._status_line())
        if self.mqtt is not None and now >= self._next_stats:
            self._next_stats = now + self.config.mqtt.stats_interval
            self.mqtt.publish_stats(self.stats())
        if self.history is not None and now >= self._next_checkpoint:
            self._next_checkpoint = now + self.config.history.checkpoint_s
            self.history.checkpoint(time.time())

    def _pause(self, started: float) -> None:
        """Wait until the next frame is due, waking at once for a request."""
        if self.source.is_finite and not self._privacy:
            return
        active = self.tracker.state.faces > 0
        fps = self.config.daemon.active_fps if active else self.config.daemon.idle_fps
        delay = started + 1.0 / fps - time.monotonic()
        if self._privacy:
            delay = max(delay, 1.0)
        if delay > 0:
            self._wake.wait(delay)
        self._wake.clear()

    def _apply_requests(self) -> None:
        with self._lock:
            reload, self._reload_requested = self._reload_requested, False
            privacy = self._privacy_wanted
        if reload:
            self._reload()
        if privacy != self._privacy:
            self._set_privacy(privacy)

    def _set_privacy(self, on: bool) -> None:
        switch_camera = getattr(self.source, "release" if on else "acquire", None)  # live cameras have them
        if switch_camera is not None:
            switch_camera()
        events = self.tracker.set_privacy(on, time.monotonic())
        with self._privacy_applied:
            self._privacy = on
            self._privacy_applied.notify_all()
        log.info("privacy %s: camera %s", "on" if on else "off", "released" if on else "in use")
        self._dispatch(events)
        self._publish_state()
        if self.mqtt is not None:
            self.mqtt.publish_privacy(on)

    def _reload(self) -> None:
        """SIGHUP: a valid new config replaces the running one; a bad one is logged and ignored."""
        if self._reload_config is None:
            return
        self.notifier.reloading()
        try:
            config = self._reload_config()
        except ValueError as err:  # ConfigError is a ValueError
            log.error("config reload rejected, keeping the running config: %s", err)
        except Exception:
            log.exception("config reload failed, keeping the running config")
        else:
            if config.mood != self.config.mood:
                self.tracker.reconfigure(config.mood)
            if self.music is not None and config.music != self.config.music:
                self.music.reconfigure(config.music)
            self.config = replace(self.config, daemon=config.daemon, mood=config.mood, music=config.music)
            log.info("config reloaded (mood, music and daemon settings; restart for camera, models, MQTT)")
        self.notifier.ready(self._status_line())

    def _shutdown(self, source_ended: bool) -> None:
        """Stop every stage. On SIGTERM the music fades out first and MQTT says so; when a finite source
        ended, MQTT goes offline first, leaving the mood of the last frames and the player state as they were.
        """
        self.request_stop()  # after the end of a source too: the MQTT worker may wait in set_privacy
        self.notifier.stopping()
        log.info("stopping (%s)", "end of the source" if source_ended else "asked to")
        if source_ended:
            self._stop_mqtt()
        if self.music is not None:
            self.music.close(fade_ms=min(self.config.music.fade_ms, STOP_FADE_MAX_MS))
        self.source.close()
        if self.history is not None:
            self.history.close(time.time())
        self._stop_mqtt()

    def _stop_mqtt(self) -> None:
        if self.mqtt is not None:
            self._publish_state()
            self.mqtt.stop()
            self.mqtt = None

    # --------------------------------------------------------------------------------- reporting
    def _publish_state(self) -> None:
        if self.mqtt is None:
            return
        state = self.tracker.state
        since = datetime.now(UTC).timestamp() - (time.monotonic() - state.since)
        self.mqtt.publish_state({
            "mood": state.mood, "confidence": state.confidence if state.mood != NO_MOOD else 0.0,
            "since": datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds"),
            "faces": state.faces, "privacy": self._privacy,
        })

    def _publish_event(self, event_type: str, **fields: Any) -> None:
        if self.mqtt is not None:
            self.mqtt.publish_event(event_type, **fields)

    def _on_player_state(self, player: dict[str, Any]) -> None:
        """From the player's thread: publish its state, and ``playback_started`` for each new track."""
        playing = (player["playlist"], player["track"]) if player["state"] == "playing" else None
        with self._lock:
            started, self._playing = playing is not None and playing != self._playing, playing
        mqtt = self.mqtt  # the main thread sets it to None when it stops MQTT
        if mqtt is not None:
            mqtt.publish_player_state(player)
            mqtt.publish_music_mode(player["mode"])
            if started:
                mqtt.publish_event("playback_started", playlist=player["playlist"], track=player["track"])

    def stats(self) -> dict[str, Any]:
        """Health figures for MQTT stats."""
        backend = self.pipeline.backend
        status = self.source.status if isinstance(self.source, ResilientSource) else SourceStatus("ok")
        return {
            "uptime_s": round(time.monotonic() - self._started),
            "version": __version__,
            "backend": {"preferred": backend.preferred, "actual": backend.actual, "reason": backend.reason},
            "ms": {stage: round(ms, 2) for stage, ms in self.times.ms.items()},
            "fps": round(self.times.fps, 2),
            "cpu_temp_c": cpu_temperature(),
            "camera": status.text,
            "frames_processed": self.frames,
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }

    def _status_line(self) -> str:
        state = self.tracker.state
        mood = "privacy" if self._privacy else state.mood
        return (f"{self.pipeline.backend.actual} | {self.times.fps:.1f} fps | mood {mood} | "
                f"{state.faces} face(s)")


def _observations(result: FrameResult) -> list[FaceObservation]:
    return [FaceObservation(probabilities=dict(zip(EMOTIONS, map(float, f.probabilities), strict=True)),
                            box=f.face.box, score=f.face.score) for f in result.faces]


def cpu_temperature() -> float | None:
    """The SoC temperature in °C (Raspberry Pi and most Linux boards), None where unknown."""
    try:
        return round(int(CPU_TEMPERATURE.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None

