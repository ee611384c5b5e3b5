"""Journeys as data: the language (model), the YAML loader, and published versions (store)."""

from touchline.journeys.loader import LoadedJourney, journey_files, load_journey, load_journeys
from touchline.journeys.model import JourneyDefinition

__all__ = ["JourneyDefinition", "LoadedJourney", "journey_files", "load_journey", "load_journeys"]
