"""The manual engine: nothing is drafted automatically; operators draft pending edits
with ``webmagic edits draft`` (the default, so a fresh install needs no model)."""

from __future__ import annotations

from webmagic_core.edits.ports import Draft, DraftRequest, EditFailed


class ManualEngine:
    name = "manual"
    automatic = False

    def draft(self, request: DraftRequest) -> Draft:
        # Workers never call a non-automatic engine; reaching this is a wiring mistake.
        raise EditFailed(
            "This change is waiting for our team.",
            "the manual engine drafts nothing: use `webmagic edits draft`",
        )
