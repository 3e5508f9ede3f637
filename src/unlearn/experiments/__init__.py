"""Per-notebook pipelines: each module holds its experiment's PROFILES table (smoke / cpu / paper
sizes) and the functions its notebook calls, so notebooks stay thin and tell the story."""
