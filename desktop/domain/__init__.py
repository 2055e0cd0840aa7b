"""Dataclasses and pure rules of the desktop client: no Qt, no I/O, nothing else of ours."""
