"""The channel preference center: what customers stated and consented to, and the decision
that honours it (``decide``), explained reason by reason."""

from preference_center.consent import (
    GRANTED,
    MARKETING,
    PENDING,
    PURPOSES,
    REVOKED,
    STATUSES,
    TRANSACTIONAL,
    ConsentState,
    consent_allows,
)
from preference_center.decision import Decision, DecisionPolicy, Reason, SendRequest, decide
from preference_center.identities import CHANNEL_IDENTITY, InvalidAddress, normalise
from preference_center.profile import CustomerProfile, load_profiles
from preference_center.quiet_hours import QuietHours, is_valid_timezone

__all__ = [
    "CHANNEL_IDENTITY",
    "GRANTED",
    "MARKETING",
    "PENDING",
    "PURPOSES",
    "REVOKED",
    "STATUSES",
    "TRANSACTIONAL",
    "ConsentState",
    "CustomerProfile",
    "Decision",
    "DecisionPolicy",
    "InvalidAddress",
    "QuietHours",
    "Reason",
    "SendRequest",
    "consent_allows",
    "decide",
    "is_valid_timezone",
    "load_profiles",
    "normalise",
]
