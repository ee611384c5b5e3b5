"""Campaign launches: a journey sent to a segment file."""

from touchline.launch.launcher import LaunchReport, default_name, launch
from touchline.launch.segment_file import RejectedRow, SegmentReader, SegmentRow

__all__ = ["LaunchReport", "RejectedRow", "SegmentReader", "SegmentRow", "default_name", "launch"]
