#!/bin/sh
# One-shot: create Temporal's two databases (temporal, temporal_visibility) on the
# PostgreSQL server and bring their schemas to the versions this server image ships.
# Safe to run again: `create` of an existing database fails, so it is tolerated, and
# `update-schema` applies only the versions not yet applied.
set -eu
ENDPOINT="${POSTGRES_SEEDS:-postgresql}"
PORT="${DB_PORT:-5432}"
SCHEMAS=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${ENDPOINT}:${PORT}"
until nc -z -w 5 "$ENDPOINT" "$PORT"; do sleep 1; done

for database in temporal temporal_visibility; do
  case "$database" in
    temporal) versions="$SCHEMAS/temporal/versioned" ;;
    *) versions="$SCHEMAS/visibility/versioned" ;;
  esac
  tool="temporal-sql-tool --plugin postgres12 --ep $ENDPOINT -p $PORT -u $POSTGRES_USER --db $database"
  $tool create || echo "database $database exists"
  $tool setup-schema -v 0.0 || echo "schema of $database already set up"
  $tool update-schema -d "$versions"
done
echo 'Temporal schema setup complete'
