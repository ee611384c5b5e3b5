"""The HTTP API."""

from touchline.api.app import create_app

__all__ = ["create_app"]
