"""The REST routes of ``vatel serve`` (protocol.md §2, §4), one module per area of the API."""
