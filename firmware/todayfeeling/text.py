"""Short, one-line texts for what goes out to MQTT and systemd (library errors can be long and multi-line)."""

MAX_REASON = 200  # characters of a reason or error message in an event, a state or the stats


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line and at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
