"""Model code behind the AI node types (loaded lazily by pipelines.nodes)."""
