"""`cosmos demo`: sample data, a realistic queue, and both executions on the simulator."""
