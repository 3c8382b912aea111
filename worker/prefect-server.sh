#!/bin/sh
# The compose file's Prefect server: its database on PostgreSQL, basic auth from
# PREFECT_SERVER_API_AUTH_STRING ("user:password"; clients set PREFECT_API_AUTH_STRING).
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
: "${PREFECT_SERVER_API_AUTH_STRING:?PREFECT_SERVER_API_AUTH_STRING is not set}"
POSTGRES_USER="${POSTGRES_USER:-dioptra}"
POSTGRES_HOST="${POSTGRES_HOST:-postgres}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
export PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}/prefect"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_UI_ENABLED="${PREFECT_UI_ENABLED:-true}"
exec prefect server start --host "${HOST:-0.0.0.0}" --port "${PORT:-4200}"
