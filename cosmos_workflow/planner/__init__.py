"""The planner: pure smart batching (no database, network, files or clock).

Modules: `cost` (the GPU-time model), `cost_defaults` (published-figure defaults per GPU
profile), `calibration` (fitting the cost model to measured timings), `memory` (GPU memory and
GPU-batch sizes), `compat` (what may share a process), `plan` (whole-queue plans), `head`
(continuous batching at the head of the queue), `fingerprint` (the queue state a plan is for)."""
