"""Music that fits the room's mood.

``library`` (folders and playlists on disk), ``shuffle`` (which track next), ``policy`` (the modes: what to
play when), ``player`` (pygame on its own thread) and ``service`` (:class:`~todayfeeling.music.service.MusicService`,
the one object the daemon uses). Its settings are ``MusicConfig`` in :mod:`todayfeeling.config.settings`.
Nothing is imported here, so reading the config does not load pygame.
"""
