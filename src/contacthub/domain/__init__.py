"""The operator's rules, free of I/O: event types, the customer aggregate, complaint lifecycle."""
