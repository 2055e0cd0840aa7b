"""Talking to the analytics server (requests) and keeping the agent's token (keyring). No Qt."""
