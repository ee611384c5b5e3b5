"""The unified interaction record: every table Touchline keeps, in SQLModel."""

from touchline.record.consent import Consent
from touchline.record.customers import Customer, Identity, Preference
from touchline.record.enrollments import Enrollment
from touchline.record.events import Event
from touchline.record.journeys import Journey
from touchline.record.launches import Launch
from touchline.record.touches import Interaction, Touch

__all__ = [
    "Consent",
    "Customer",
    "Enrollment",
    "Event",
    "Identity",
    "Interaction",
    "Journey",
    "Launch",
    "Preference",
    "Touch",
]
