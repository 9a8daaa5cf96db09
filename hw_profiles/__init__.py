"""Hardware profiles shipped as YAML data (see ``energysim.profile`` for the schema)."""
