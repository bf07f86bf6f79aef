"""The e-mail services one running app (or one CLI command) holds."""

from __future__ import annotations

from dataclasses import dataclass

from cmp.app_state import Services
from pixel.email.pipeline import Pipeline
from pixel.email.prepare import Preparer
from pixel.email.recipients import EmailConsents
from pixel.email.tokens import EmailTokens


@dataclass
class EmailService:
    tokens: EmailTokens
    consents: EmailConsents
    pipeline: Pipeline
    preparer: Preparer

    @classmethod
    def build(cls, svc: Services) -> EmailService:
        sites = {sid for sid, s in svc.config.sites.items() if s.email is not None}
        tokens = EmailTokens(svc.keyring, sites)
        consents = EmailConsents(svc.config, svc.storage, svc.policy, svc.keyring, tokens,
                                 svc.settings.public_url)
        return cls(tokens, consents, Pipeline(svc.config, tokens, svc.storage, svc.windows),
                   Preparer(consents))
