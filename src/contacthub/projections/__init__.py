"""Read models built from the event log. Each module owns its tables and says which events it consumes."""
