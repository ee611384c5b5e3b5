"""How the real providers sign their webhooks, implemented from their documentation.

Written independently of the SDK helpers that verify these signatures, so that a test that
passes proves the two sides agree, not that a function agrees with itself.

- SendGrid Signed Event Webhook: ECDSA P-256 with SHA-256 over ``timestamp + raw body``,
  base64 DER signature in ``X-Twilio-Email-Event-Webhook-Signature``, the timestamp in
  ``X-Twilio-Email-Event-Webhook-Timestamp``; the public key is shown to the account owner
  as base64 DER (SubjectPublicKeyInfo).
- Twilio: HMAC-SHA1 keyed with the auth token over the full URL followed by every POST
  parameter's name and value, sorted by name; base64 in ``X-Twilio-Signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


class EventWebhookSigner:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        self._key = private_key

    @classmethod
    def load_or_create(cls, directory: Path) -> EventWebhookSigner:
        """The key survives restarts, as an account's webhook key does."""
        path = directory / "sendgrid_event_webhook_key.pem"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return cls(key)
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        (directory / "sendgrid_event_webhook_public_key").write_text(cls(key).public_key_base64())
        return cls(key)

    def public_key_base64(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def sign(self, payload: bytes, timestamp: str) -> str:
        signature = self._key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
