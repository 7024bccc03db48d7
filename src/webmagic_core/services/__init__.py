"""Use cases: each opens a unit of work, asks the entities, and commits."""
