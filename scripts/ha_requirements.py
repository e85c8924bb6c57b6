"""Print the pip requirements of the Home Assistant integrations that scripts/ha_check.py makes it load.

Run by Home Assistant's own Python inside the check's root (scripts/ha-check.sh does, at build time): the
check then starts Home Assistant with ``--skip-pip``, offline, so whatever those integrations import must
already be installed. They are the ones Home Assistant always sets up (its bootstrap's core and default
integrations), those the check configures, and every integration they depend on, read from the manifests.
"""

from __future__ import annotations

import json
from pathlib import Path

# Set up by the check beyond Home Assistant's defaults: http (configured in configuration.yaml), mqtt (its
# config flow), isal (not set up; installs the zlib replacement aiohttp warns about when it is missing).
CHECK_INTEGRATIONS = ("http", "mqtt", "isal")


def main() -> None:
    import homeassistant.components
    from homeassistant import bootstrap

    components = Path(homeassistant.components.__file__).parent

    def manifest(domain: str) -> dict:
        return json.loads((components / domain / "manifest.json").read_text())

    pending = {*bootstrap.CORE_INTEGRATIONS, *bootstrap.DEFAULT_INTEGRATIONS, *CHECK_INTEGRATIONS}
    seen: set[str] = set()
    while pending:
        domain = pending.pop()
        if domain not in seen:
            seen.add(domain)
            pending.update(manifest(domain).get("dependencies", []))
    for requirement in sorted({r for domain in seen for r in manifest(domain).get("requirements", [])}):
        print(requirement)


if __name__ == "__main__":
    main()
