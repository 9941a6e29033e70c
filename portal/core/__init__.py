"""Infrastructure every layer may use: extensions, Redis, errors, masking, identity rules,
upload checks and the SQL helpers of the hot paths."""
