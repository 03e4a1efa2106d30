#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (/docker-entrypoint-initdb.d):
# a role and a database of intake's own next to Temporal's two, so the app's tables and
# Temporal's never share a database or a password.
set -eu
: "${INTAKE_DB_PASSWORD:?INTAKE_DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=intake_password="$INTAKE_DB_PASSWORD" <<'SQL'
CREATE ROLE intake LOGIN PASSWORD :'intake_password';
CREATE DATABASE intake OWNER intake;
SQL
echo 'intake database created'
