"""The HTTP API (FastAPI): one router per resource, thin: parse, call the service, map to HTTP."""
