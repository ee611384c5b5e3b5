"""Intake: genesis and behaviour events in, validated, stored once, acted upon."""

from touchline.intake.ingest import IngestReport, ingest, read_json_lines
from touchline.intake.schema import EventIn, parse_event

__all__ = ["EventIn", "IngestReport", "ingest", "parse_event", "read_json_lines"]
