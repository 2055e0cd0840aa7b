"""Use cases of the desktop client (pop, outcomes, sync, sign-in, configuration). No Qt."""
