"""A small Qt softphone that embeds the CallCue panel (run host.py)."""
