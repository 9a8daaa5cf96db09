"""Hardware profiles shipped as YAML data (see ``energysim.arch.profile`` for the schema)."""
