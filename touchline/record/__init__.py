"""The unified interaction record: every table Touchline keeps, in SQLModel."""

from touchline.record.consent import Consent
from touchline.record.customers import Customer, CustomerMerge, Identity, Preference
from touchline.record.effectiveness import ChannelEffectiveness, TimingEffectiveness
from touchline.record.enrollments import Enrollment
from touchline.record.events import Event
from touchline.record.journeys import Journey
from touchline.record.launches import Launch
from touchline.record.lifecycle import JourneyState, JourneyStateChange, ProofSend
from touchline.record.privacy import PrivacyAudit
from touchline.record.suppressions import Suppression
from touchline.record.touches import Interaction, Touch

__all__ = [
    "ChannelEffectiveness",
    "Consent",
    "Customer",
    "CustomerMerge",
    "Enrollment",
    "Event",
    "Identity",
    "Interaction",
    "Journey",
    "JourneyState",
    "JourneyStateChange",
    "Launch",
    "Preference",
    "PrivacyAudit",
    "ProofSend",
    "Suppression",
    "TimingEffectiveness",
    "Touch",
]
