"""The daemon's HTTP API (FastAPI): the Encore tutorial's paths and JSON field names."""

from oncall_opt.api.app import create_app

__all__ = ["create_app"]
