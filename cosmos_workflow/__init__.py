"""cosmos-workflow: a durable job queue with smart batching for NVIDIA Cosmos Transfer."""

__version__ = "0.1.0"
