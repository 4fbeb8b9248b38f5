"""The daemon's HTTP API (FastAPI): the Encore tutorial's paths and JSON field names."""

from .app import create_app

__all__ = ["create_app"]
