"""Personalised content: sandboxed Jinja templates rendered per channel."""

from touchline.content.catalog import CHANNEL_PARTS, TemplateCatalog
from touchline.content.render import RenderedEmail, RenderedSms, render_email, render_sms
from touchline.content.segments import SegmentCount, count_segments

__all__ = [
    "CHANNEL_PARTS",
    "RenderedEmail",
    "RenderedSms",
    "SegmentCount",
    "TemplateCatalog",
    "count_segments",
    "render_email",
    "render_sms",
]
