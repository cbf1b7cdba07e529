"""PostgreSQL storage (asyncpg): the store, its schema and migrations, batch writes."""
