"""The node agent: connects out to a hub, runs batches of tasks, and returns their results."""
