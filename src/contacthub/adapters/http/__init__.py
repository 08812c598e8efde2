"""What the JSON API (adapters/api) and the pages (adapters/web) share: the app, keys, limits, parameters, errors."""
