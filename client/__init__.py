"""Client helpers: start, signal and query workflows. Used by cli/ and api/, never by workers."""
