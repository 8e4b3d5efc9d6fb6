"""Stored batching verifications: a real GPU's and the simulator's are kept apart."""

from __future__ import annotations

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import BatchingKind, VerdictKey
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.verdicts import list_verdicts, save_verdict, verified_keys

KEY = VerdictKey.of(
    Backend.TRANSFER1, False, BatchingKind.MIXED, frozenset({Control.EDGE, Control.DEPTH}), "h100"
)


def _save(ctx: Context, *, identical: bool, simulated: bool) -> None:
    with ctx.db.write() as session:
        save_verdict(
            session,
            KEY,
            identical=identical,
            bit_identical=identical,
            min_psnr_db=None if identical else 31.5,
            runs_compared=2,
            simulated=simulated,
            details={"host": "a"},
        )


def test_a_simulated_verdict_never_replaces_a_real_one(ctx: Context) -> None:
    _save(ctx, identical=False, simulated=False)
    _save(ctx, identical=True, simulated=True)
    with ctx.db.read() as session:
        assert len(list_verdicts(session)) == 2
        assert verified_keys(session, simulated=True) == {KEY}
        assert verified_keys(session, simulated=False) == frozenset()


def test_a_new_verification_replaces_the_old_one_of_its_key(ctx: Context) -> None:
    _save(ctx, identical=True, simulated=False)
    _save(ctx, identical=False, simulated=False)
    with ctx.db.read() as session:
        [stored] = list_verdicts(session)
        assert not stored.identical and stored.min_psnr_db == 31.5
        assert verified_keys(session) == frozenset()
