"""The always-on appliance: camera → faces → emotions → mood → music and MQTT, in one main loop.

The main thread owns the camera, the vision pipeline, the mood tracker and the history; the music player and
the MQTT client keep their own threads. Requests from other threads (MQTT commands, signals) are handed to
the main loop, which applies them between frames and wakes at once for them: nothing waits busily. What
goes out (MQTT, systemd's status line) goes through the :class:`~todayfeeling.reporting.Reporter`; what
recurs (stats, status, history checkpoints, Edge TPU retries) is a :class:`~todayfeeling.reporting.Periodic`
task.

Frame rate adapts: ``idle_fps`` while nobody is in view (an idle appliance costs little), ``active_fps``
while faces are present. Finite sources (a video file, a folder) run as fast as they are read (or at
``pace_fps``, ``run --fps``) and end the run after their last frame; one that yields no frame at all is an
error. Every wait between frames wakes at once for a stop or any other request.

The mood stages (tracker, per-person moods, recognition's rechecks, the music's audience) run on the mood
clock (:meth:`Appliance._mood_time`): the monotonic clock with a live camera; with a finite source, the media
time of its frames from the moment it opened, so a clip gives the same moods however fast it is read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from todayfeeling.camera.base import CameraError, Frame, FrameSource
from todayfeeling.config.settings import AppConfig
from todayfeeling.history import HistoryError, MoodHistory, WallClock
from todayfeeling.inference.pipeline import FacePipeline
from todayfeeling.mood import MoodEvent, MoodTracker
from todayfeeling.music.audience import Audience, Taste, unknown_names
from todayfeeling.people.tracked import TrackRecognition
from todayfeeling.people_moods import PeopleMoods
from todayfeeling.privacy import locked
from todayfeeling.reporting import Health, Link, Periodic, Reporter, StageTimes, status_line
from todayfeeling.runtime_settings import RuntimeSettings
from todayfeeling.service import ServiceNotifier
from todayfeeling.text import name_key
from todayfeeling.vocabulary import EventType, MusicMode, PlayerCommand, PlayerState

if TYPE_CHECKING:
    from todayfeeling.music.service import MusicService  # pygame is loaded only where music plays

log = logging.getLogger(__name__)

PRIVACY_WAIT_S = 5.0  # how long an MQTT privacy command waits for the main loop to apply it
PRIVACY_LOCK_CHECK_S = 1.0  # how often the privacy lock file is looked for
FIRST_STATS_S = 3.0  # the first stats after start, once a few frames have given a frame rate
FIRST_STATS_WITHIN_S = 60.0  # ... or without one, by then (a slow first frame, a camera that gives none)
MAX_FAILED_FRAMES = 10  # unexpected errors in a row before the loop gives up (one bad frame is survived)
STOP_FADE_MAX_MS = 2000  # the music's fade-out on a stop, at most (a long configured fade would hold it up)
PEOPLE_DB_CHECK_S = 2.0  # how often the people database file is looked at for changes (a stat, no read)


class Appliance:
    """Runs the appliance until stopped (or until a finite source ends); see the module docstring.

    ``music`` and ``mqtt_factory`` may be None (no music, no broker). Public ``request_*`` methods and the
    :class:`~todayfeeling.mqtt.commands.CommandHandler` methods are safe to call from any thread.
    """

    def __init__(self, config: AppConfig, source: FrameSource, pipeline: FacePipeline, *,
                 music: MusicService | None = None, mqtt_factory: Callable[[Appliance], Link] | None = None,
                 history: MoodHistory | None = None, notifier: ServiceNotifier | None = None,
                 reload_config: Callable[[], AppConfig] | None = None, pace_fps: float | None = None,
                 settings: RuntimeSettings | None = None, recognition: TrackRecognition | None = None) -> None:
        self.config = config
        self.recognition = recognition
        self.settings = settings
        self.pace_fps = pace_fps
        self.source = source
        self.pipeline = pipeline
        self.music = music
        self.history = history
        # the history's Unix time: a clock set at boot (no real-time clock) must not lengthen the ongoing moods
        self._history_time = WallClock(history.clock_stepped).now if history is not None else time.time
        self._reload_config = reload_config
        self.tracker = MoodTracker(config.mood, now=time.monotonic())
        self.people = PeopleMoods(config.mood, recognition.names if recognition else (), now=time.monotonic())
        self.audience = Audience(config.music)
        self._music_for: tuple[str, Taste] | None = None  # the mood and taste the music was last told
        self.times = StageTimes()
        self.frames = 0
        self._started = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reload_requested = False
        self._privacy_wanted = config.daemon.privacy
        self._privacy = False
        self._privacy_applied = threading.Condition(self._lock)
        self._source_opened = False  # privacy at start: the camera is not opened until privacy is off
        self._media_start: float | None = None  # a finite source: the mood clock at its media time 0
        self._media_now = 0.0  # a finite source: the mood clock at its last frame
        self._degraded = False
        self.reporter = Reporter(mqtt_factory(self) if mqtt_factory else None, notifier or ServiceNotifier(),
                                 publish_track=config.mqtt.publish_track, publish_people=config.people.publish,
                                 clock=self._mood_time)
        self._periodic = Periodic()
        self._periodic.every(lambda: self.config.daemon.status_interval_s,
                             lambda now: self.reporter.status(self.health(), self.tracker.state, self._privacy))
        self._periodic.every(lambda: self.config.mqtt.stats_interval, lambda now: self.reporter.stats(self.health()),
                             first_after=FIRST_STATS_S, first_when=self._first_stats_due,
                             first_within=FIRST_STATS_WITHIN_S)
        self._periodic.every(lambda: self.config.daemon.edgetpu_retry_s, self._retry_edgetpu)
        self._periodic.every(lambda: PRIVACY_LOCK_CHECK_S, self._enforce_privacy_lock)
        if history is not None:
            self._periodic.every(lambda: self.config.history.checkpoint_s,
                                 lambda now: history.checkpoint(self._history_time()))
        if recognition is not None:
            self._periodic.every(lambda: PEOPLE_DB_CHECK_S, self._reload_people)
        if music is not None:
            music.add_listener(self.reporter.player)

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
        """Turn privacy mode on (camera released, mood ``none``) or off, between frames; while the privacy
        lock is on, turning it off is refused (logged)."""
        reason = locked(self.config.daemon) if not on else None
        if reason:
            log.warning("privacy stays on: it is locked on this device (%s)", reason)
            on = True
        with self._lock:
            self._privacy_wanted = on
        self._wake.set()

    def set_privacy(self, on: bool) -> bool:
        """MQTT command: privacy on/off; waits briefly until the main loop applied it, returns the state."""
        self.request_privacy(on)
        with self._privacy_applied:
            wanted = self._privacy_wanted  # on, whatever was asked, while privacy is locked
            self._privacy_applied.wait_for(lambda: self._privacy == wanted or self._stop.is_set(),
                                           timeout=PRIVACY_WAIT_S)
            return self._privacy

    def set_music_mode(self, mode: MusicMode) -> MusicMode:
        """MQTT command: the music mode in effect afterwards."""
        if self.music is None:
            log.info("no music library at %s: the music mode stays off", self.config.music.dir)
            return MusicMode.OFF
        self.music.set_mode(mode)
        applied = MusicMode(self.music.state()["mode"])
        self._remember("music_mode", applied.value)
        return applied

    def set_volume(self, volume: int) -> int:
        """MQTT command: the volume in effect afterwards."""
        if self.music is None:
            log.info("no music library at %s: the volume stays as configured", self.config.music.dir)
            return self.config.music.volume
        applied = self.music.set_volume(volume)  # the player's state may not show it yet
        self._remember("volume", applied)
        return applied

    def player_command(self, command: PlayerCommand) -> None:
        """MQTT command: play, pause, next or stop."""
        if self.music is not None:
            self.music.command(command)
        else:
            log.info("no music library at %s: %s ignored", self.config.music.dir, command)

    def refresh(self) -> None:
        """MQTT ``cmd refresh``: look at the music library again (the link republishes everything)."""
        if self.music is not None:
            self.music.rescan()

    # ------------------------------------------------------------------------------- main thread
    def run(self) -> int:
        """The main loop; returns the exit status. A source that cannot open, or a finite one that yields
        no readable frame, raises CameraError after every stage has been stopped."""
        source_ended = False
        failures = 0
        why = "asked to"
        try:
            try:
                self._start()
            except Exception as err:
                why = f"start-up failed: {err}"
                raise
            while not self._stop.is_set():
                self.reporter.notifier.tick()
                started = time.monotonic()
                try:
                    self._apply_requests()
                    if not self._privacy and not self._step():
                        source_ended, why = True, "end of the source"  # a video file or folder is done
                        break
                    self._periodic.run_due(time.monotonic())
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("a frame failed (%d in a row)", failures)
                    if failures >= MAX_FAILED_FRAMES:
                        why = f"giving up after {failures} failed frames in a row"
                        raise  # something is broken for good: end, so that systemd restarts the service
                self._pause(started)
        finally:
            self._shutdown(source_ended, why)
        if source_ended and self.frames == 0:
            raise CameraError(f"{self.source.name}: no readable frame in it")
        return 0

    def _first_stats_due(self) -> bool:
        """With a frame rate measured (not 0.0), or at once when the camera is missing: that is news."""
        return self.times.fps(time.monotonic()) > 0 or self.source.status.state == "reconnecting"

    def _no_music_state(self) -> dict[str, Any]:
        """``player/state`` without a music library: a whole state (as the contract has it) that says why."""
        return {"state": PlayerState.STOPPED, "playlist": None, "track": None, "volume": self.config.music.volume,
                "mode": MusicMode.OFF, "fallback_from": None, "error": f"no music library at {self.config.music.dir}",
                "for": None}

    def health(self) -> Health:
        """The figures behind the stats and the status line, with everything a user must act on."""
        camera = self.source.status
        problems = [f"mqtt: {self.reporter.link_problem}" if self.reporter.link_problem else "",
                    f"camera: {camera.text}" if camera.state == "reconnecting" else "",
                    f"audio: {self.music.problem}" if self.music is not None and self.music.problem else "",
                    f"history: {self.history.problem}" if self.history is not None and self.history.problem else ""]
        uptime = time.monotonic() - self._started
        return Health(self.pipeline.backend, camera, self.times.fps(time.monotonic()), dict(self.times.ms), self.frames,
                      uptime, time.time() - uptime,  # started: from now, as a Pi's clock is often set after boot
                      tuple(p for p in problems if p))

    def _start(self) -> None:
        self.reporter.start()
        reason = locked(self.config.daemon)
        with self._lock:
            wanted = self._privacy_wanted = self._privacy_wanted or reason is not None
        if wanted:
            log.info("privacy on at start%s: the camera is not opened", f" ({reason})" if reason else "")
            if self.source.is_finite:
                log.warning("privacy is on: %s is not played until privacy is turned off (over MQTT or with "
                            "SIGUSR2; `todayfeeling privacy unlock` where the local lock holds it)", self.source.name)
            self._set_privacy(True, remember=False)  # how this run starts (a flag, the file), not a change
        else:
            self._open_source()
        self.reporter.state(self.tracker.state, self._privacy)
        self.reporter.privacy(self._privacy)
        for name, state in self.people.states().items():
            self.reporter.person(name, state)
        self.reporter.player(self.music.state() if self.music is not None else self._no_music_state())
        self.reporter.notifier.ready(self._status_line())
        log.info("running: source %s, backend %s", self.source.name, self.pipeline.backend.actual)

    def _step(self) -> bool:
        """One frame through every stage; False when a finite source has ended."""
        frame = self.source.read(timeout=1.0)
        if frame is None:
            return not self.source.is_finite
        now = self._mood_time(frame)
        result = self.pipeline.follow(frame.image)
        self.frames += 1
        self.times.add(result.ms, time.monotonic())
        names: list[str | None] = []
        if self.recognition is not None:  # each enrolled face read with their personal calibration
            names = self.recognition.identify(frame.image, result.faces, now)
            result = replace(result, faces=self.recognition.calibrated(result.faces, names,
                                                                       self.pipeline.classifier.spec))
        observations = result.observations()
        before = self.tracker.state
        self._dispatch(self.tracker.update(now, observations))
        after = self.tracker.state
        if (after.mood, after.faces) != (before.mood, before.faces):
            self.reporter.state(after, self._privacy)
        if self.recognition is not None:
            self._dispatch_people(self.people.update(now, list(zip(names, observations, strict=True))))
        self._follow_music(now)
        self._watch_backend()
        return True

    def _dispatch(self, events: list[MoodEvent]) -> None:
        for event in events:
            self.reporter.event(event.event_type, **event.details)
            if event.event_type == EventType.MOOD_CHANGED:
                self._on_mood_changed()

    def _on_mood_changed(self) -> None:
        state = self.tracker.state
        log.info("mood: %s (confidence %.2f, %d face(s))", state.mood, state.confidence, state.faces)
        if self.history is not None:
            self.history.record(state.mood, state.confidence, self._history_time())

    def _dispatch_people(self, events: list[MoodEvent]) -> None:
        """Each enrolled person's events: their history, and MQTT only where per-person publishing is on."""
        for event in events:
            name = event.details["person"]
            state = self.people.state(name)
            assert state is not None  # events come from the people PeopleMoods follows
            self.reporter.person_event(event.event_type, **event.details)
            self.reporter.person(name, state)
            if event.event_type == EventType.MOOD_CHANGED:
                log.info("mood of %s: %s (confidence %.2f)", name, state.mood, state.confidence)
                if self.history is not None:
                    self.history.record(state.mood, state.confidence, self._history_time(), person=name)
            else:
                log.info("%s %s", name, "arrived" if event.event_type == EventType.PERSON_ARRIVED else "left")

    def _follow_music(self, now: float) -> None:
        """Tell the music whose mood and taste it follows now (``[music] audience``), when that changed."""
        if self.music is None:
            return
        room = self.tracker.state
        choice = self.audience.choose(now, room.mood, room.confidence, self.people.listeners())
        if self._music_for == (choice.mood, choice.taste):
            return
        if self._music_for is None or self._music_for[1].who != choice.taste.who:
            log.info("music for %s (audience %s)", choice.taste.who, self.config.music.audience)
        self._music_for = (choice.mood, choice.taste)
        self.music.on_mood(choice.mood, choice.confidence, choice.taste)

    def _reload_people(self, now: float) -> None:
        """The people database file changed (`todayfeeling people …`): follow who is enrolled now."""
        assert self.recognition is not None
        before = {name_key(name) for name in self.recognition.names}
        change = self.recognition.reload_if_changed()
        if change is None:
            return
        names = self.recognition.names
        self.people.set_people(names, self._mood_time())
        self.reporter.people(names)
        for name, state in self.people.states().items():
            if name_key(name) not in before:
                self.reporter.person(name, state)
        if self.history is not None:
            try:
                for old, new in change.renamed.items():  # `people rename` moved the saved rows: the ongoing one too
                    self.history.end(old, self._history_time())
                    self.history.rename(old, new)
                for name in change.removed:  # what the daemon holds of them must not be written back after a remove
                    self.history.forget(name)
            except HistoryError as err:
                log.warning("history: %s", err)
        for key in unknown_names(self.config.music, names):
            log.warning("config: %s names someone who is no longer enrolled; it is ignored until they are", key)

    def _watch_backend(self) -> None:
        backend = self.pipeline.backend
        if backend.degraded == self._degraded:
            return
        self._degraded = backend.degraded
        if backend.degraded:
            log.warning("detector fell back to the CPU: %s", backend.reason)
            self.reporter.event(EventType.DETECTOR_FALLBACK, backend=backend.actual, reason=backend.reason)
        else:
            log.info("Edge TPU is back")
            self.reporter.event(EventType.DETECTOR_RECOVERED, backend=backend.actual)

    def _retry_edgetpu(self, now: float) -> None:
        if self._degraded:
            self.pipeline.retry_edgetpu()
            self._watch_backend()

    def _pause(self, started: float) -> None:
        """Wait until the next frame is due, waking at once for a request."""
        if self.source.is_finite and not self._privacy:
            fps = self.pace_fps
        else:
            active = self.tracker.state.faces > 0
            fps = self.config.daemon.active_fps if active else self.config.daemon.idle_fps
        if fps is None:
            return
        delay = started + 1.0 / fps - time.monotonic()
        if self._privacy:
            delay = max(delay, 1.0)
        if delay > 0:
            self._wait(delay)
        self._wake.clear()

    def _wait(self, delay: float) -> None:
        """Wait ``delay`` seconds or until woken, feeding the watchdog meanwhile: a slow frame rate (an
        ``idle_fps`` of a frame a minute) is this loop waiting as asked, not a hang."""
        interval = self.reporter.notifier.watchdog_interval
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if self._wake.wait(left if interval is None else min(left, interval)):
                return
            self.reporter.notifier.tick()

    def _apply_requests(self) -> None:
        with self._lock:
            reload, self._reload_requested = self._reload_requested, False
            privacy = self._privacy_wanted
        if reload:
            self._reload()
        if privacy != self._privacy:
            self._set_privacy(privacy)

    def _open_source(self) -> None:
        self.source.open()
        self._source_opened = True
        if self.source.is_finite:
            self._media_start = self._media_now = time.monotonic()

    def _mood_time(self, frame: Frame | None = None) -> float:
        """The mood clock (see the module's docstring), at ``frame`` or, without one, now."""
        if self._media_start is None:
            return time.monotonic()
        if frame is not None:
            self._media_now = max(self._media_now, self._media_start + frame.ts)
        return self._media_now

    def _enforce_privacy_lock(self, now: float) -> None:
        if not self._privacy and locked(self.config.daemon):
            self.request_privacy(True)

    def _set_privacy(self, on: bool, remember: bool = True) -> None:
        if on:
            self.source.release()
            self.pipeline.reset_tracks()  # whoever is in view when the camera comes back starts a new track
            if self.recognition is not None:
                self.recognition.forget()
        elif not self._source_opened:
            self._open_source()
        else:
            self.source.acquire()
        events = self.tracker.set_privacy(on, self._mood_time())
        with self._privacy_applied:
            self._privacy = on
            self._privacy_applied.notify_all()
        log.info("privacy %s: camera %s", "on" if on else "off", "released" if on else "in use")
        if remember:
            self._remember("privacy", on)
        if self.music is not None:
            self.music.set_privacy(on)
        self._dispatch(events)
        self._dispatch_people(self.people.set_privacy(on, self._mood_time()))
        self._follow_music(self._mood_time())
        self.reporter.state(self.tracker.state, on)
        self.reporter.privacy(on)
        self.reporter.stats(self.health())  # the camera's status changed (released / in use): say so now

    def _remember(self, key: str, value: object) -> None:
        if self.settings is not None:
            self.settings.remember(key, value)

    def _reload(self) -> None:
        """SIGHUP: a valid new config replaces the running one; a bad one is logged and ignored. The music
        library is looked at again either way."""
        if self._reload_config is None:
            return
        self.reporter.notifier.reloading()
        try:
            config = self._reload_config()
            if self.settings is not None:
                config = self.settings.restore(config)  # what was set at run time stays, unless the file changed it
        except ValueError as err:  # ConfigError is a ValueError
            log.error("config reload rejected, keeping the running config: %s", err)
        except Exception:
            log.exception("config reload failed, keeping the running config")
        else:
            if config.mood != self.config.mood:
                self.tracker.reconfigure(config.mood)
                self.people.reconfigure(config.mood)
            if config.music != self.config.music:
                self.audience.reconfigure(config.music)
                if self.music is not None:
                    self.music.reconfigure(config.music)
            daemon = config.daemon
            if daemon.state_dir != self.config.daemon.state_dir:  # where settings and the privacy lock are
                log.warning("config: daemon.state_dir %s takes effect at the next start; until then %s",
                            daemon.state_dir, self.config.daemon.state_dir)
                daemon = replace(daemon, state_dir=self.config.daemon.state_dir)
            self.config = replace(self.config, daemon=daemon, mood=config.mood, music=config.music)
            if self.recognition is not None:  # as at start-up: a taste of someone not enrolled waits for them
                for key in unknown_names(config.music, self.recognition.names):
                    log.warning("config: %s names someone not enrolled in %s; it is ignored until they are", key,
                                self.recognition.database.path)
            log.info("config reloaded (mood, music and daemon settings; restart for camera, models, tracking, MQTT "
                     "and [people])")
        if self.music is not None:
            self.music.rescan()
        self.reporter.notifier.ready(self._status_line())

    def _shutdown(self, source_ended: bool, why: str) -> None:
        """Stop every stage. On SIGTERM the music fades out first and MQTT says so; when a finite source
        ended, MQTT goes offline first, leaving the mood of the last frames and the player state as they were.
        """
        self.request_stop()  # after the end of a source too: the MQTT worker may wait in set_privacy
        self.reporter.notifier.stopping()
        log.log(logging.INFO if why in ("asked to", "end of the source") else logging.ERROR, "stopping (%s)", why)
        try:
            self.reporter.stats(self.health())  # the final figures (a short run may end before the first stats)
        except Exception:  # whatever went wrong, every stage below must still be stopped
            log.exception("the final stats could not be published")
        if source_ended:
            self.reporter.stop((self.tracker.state, self._privacy))
        if self.music is not None:
            self.music.close(fade_ms=min(self.config.music.fade_ms, STOP_FADE_MAX_MS))
        self.source.close()
        if self.history is not None:
            self.history.close(self._history_time())
        self.reporter.stop((self.tracker.state, self._privacy))

    def _status_line(self) -> str:
        return status_line(self.health(), self.tracker.state, self._privacy)

