"""The ways in and out: storage, HTTP API, web pages, command line."""
