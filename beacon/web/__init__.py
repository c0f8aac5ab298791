"""Beacon's web app: FastAPI JSON API, server-rendered UI, live progress, metrics.

``create_app`` (in :mod:`beacon.web.app`) builds one application from one Settings object;
``beacon serve`` runs it under uvicorn.
"""
