"""The store: what calfeed keeps in its database, and the schema that keeps it."""
