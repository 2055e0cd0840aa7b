"""Qt runtime plumbing without widgets: the one background-task mechanism (TaskRunner), the scheduler,
single-instance forwarding and the event-loop stall monitor."""
