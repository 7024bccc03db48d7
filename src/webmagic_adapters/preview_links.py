"""``PreviewLinks``: a draft's preview token, signed with its own key (so a leaked email
link key cannot mint previews, nor a preview token pass as anything else) and expiring
after ``TokenPurpose.EDIT_PREVIEW.max_age`` (seven days)."""

from __future__ import annotations

import uuid

from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.ports import TokenSigner
from webmagic_core.accounts.tokens import TokenPurpose

_EDIT = "edit"


class SignedPreviewLinks:
    def __init__(self, signer: TokenSigner) -> None:
        self._signer = signer

    def token(self, edit_id: uuid.UUID) -> str:
        return self._signer.sign(TokenPurpose.EDIT_PREVIEW, {_EDIT: edit_id.hex})

    def edit_id(self, token: str) -> uuid.UUID | None:
        purpose = TokenPurpose.EDIT_PREVIEW
        try:
            payload = self._signer.load(purpose, token, purpose.max_age)
            return uuid.UUID(hex=payload[_EDIT])
        except (ExpiredToken, InvalidToken, KeyError, ValueError):
            return None
