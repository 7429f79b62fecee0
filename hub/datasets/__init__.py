"""Dataset repos as tables: schema, row counts, previews and the checks jobs run on their inputs."""
