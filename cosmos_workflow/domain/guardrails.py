"""The guardrail posture of a run: what it asked for, and what the model actually applied.

Hosts ask for guardrails on (the default) or off (`disable_guardrails`). What the model does
with that differs per backend (docs/contracts.md):

- Transfer1 always runs its guardrails: its entry point has no switch to turn them off.
- Transfer2.5 does what it is asked (`--disable-guardrails`).
- Cosmos 3's transfer path never calls the guardrails (`_generate_transfer_batch` writes the
  video without `_run_text_guardrail` or `_run_video_guardrail`), even with `--guardrails`, the
  default, which only loads them. So its runs record "not applied by the model" whatever was
  asked, and a host that disables them passes `--no-guardrails` so the models are not loaded
  for nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cosmos_workflow.domain.params import Backend


class Guardrails(StrEnum):
    ON = "on"
    OFF = "off"
    NOT_APPLIED = "not applied by the model"


@dataclass(frozen=True, slots=True)
class GuardrailPosture:
    asked: Guardrails
    got: Guardrails


def guardrail_posture(backend: Backend, disable_guardrails: bool) -> GuardrailPosture:
    asked = Guardrails.OFF if disable_guardrails else Guardrails.ON
    if backend is Backend.COSMOS3:
        return GuardrailPosture(asked, Guardrails.NOT_APPLIED)
    if backend is Backend.TRANSFER1:
        return GuardrailPosture(asked, Guardrails.ON)
    return GuardrailPosture(asked, asked)
