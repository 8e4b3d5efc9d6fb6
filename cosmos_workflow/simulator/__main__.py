"""`python -m cosmos_workflow.simulator REAL_ARGV...`"""

from __future__ import annotations

from cosmos_workflow.simulator.main import run

run()
