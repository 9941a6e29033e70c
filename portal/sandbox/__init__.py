"""The sandbox peer (`portal sandbox`): one HTTP service playing every external system."""
