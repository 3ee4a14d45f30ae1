"""Where state lives: the engine and sessions, ORM models, prepared statements, group commit, Alembic
migrations, and the encryption of stored secrets."""
