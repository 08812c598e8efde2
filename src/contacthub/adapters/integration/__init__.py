"""Telling other systems: the TM Forum resources ContactHub's complaints and touchpoints are shown as,
the webhook requests' bodies, and the outbound HTTP that carries them."""
