"""The SDK's API version and the compatibility check (docs/sdk.md, "Versions").

API_VERSION is MAJOR.MINOR. A minor release only adds (optional parameters, events, payload fields,
methods); a major release may remove, rename or change meaning, and the previous major stays available
for at least one more release. SUPPORTED_API_VERSIONS lists, per major this SDK implements, the newest
minor of it — a host that needs "1.0" works with any entry "1.x".
"""

from __future__ import annotations

import re

from plugin_sdk._types import IncompatibleApiError

API_VERSION = "1.5"
SUPPORTED_API_VERSIONS: tuple[str, ...] = ("1.5",)

_VERSION = re.compile(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})")


def parse_api_version(text: str) -> tuple[int, int]:
    """'1.0' -> (1, 0). Raises ValueError for anything but MAJOR.MINOR."""
    match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"an API version is MAJOR.MINOR, e.g. '1.0'; got {text!r}")
    return int(match.group(1)), int(match.group(2))


def api_supported(required: str) -> bool:
    """Whether this SDK implements API `required` (same major, same or newer minor)."""
    major, minor = parse_api_version(required)
    return any(
        supported[0] == major and supported[1] >= minor
        for supported in (parse_api_version(v) for v in SUPPORTED_API_VERSIONS)
    )


def require_api(required: str) -> None:
    """Fail fast: raise IncompatibleApiError unless this SDK implements API `required`."""
    if not api_supported(required):
        raise IncompatibleApiError(
            f"this host needs CallCue SDK API {required}, but this SDK implements "
            f"{', '.join(SUPPORTED_API_VERSIONS)} (API_VERSION {API_VERSION}): install a CallCue release "
            "that supports it"
        )
