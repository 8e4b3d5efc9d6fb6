"""A stand-in for NVIDIA's Cosmos Transfer entry points on machines without a GPU.

It takes the real command line, refuses what the real entry points refuse with their messages,
prints their kind of log on a simulated clock, and writes small playable videos in the real
output layout."""
