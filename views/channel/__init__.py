"""The channel API and its administration."""
