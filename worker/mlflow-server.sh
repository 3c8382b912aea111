#!/bin/sh
# The compose file's MLflow server: runs on PostgreSQL, users in a database of their own (basic
# auth, admin's password from MLFLOW_ADMIN_PASSWORD), artifacts served through the server from
# MLFLOW_ARTIFACTS (a named volume), so workers need no storage credentials.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
: "${MLFLOW_ADMIN_PASSWORD:?MLFLOW_ADMIN_PASSWORD is not set}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?MLFLOW_FLASK_SERVER_SECRET_KEY is not set}"
POSTGRES_USER="${POSTGRES_USER:-dioptra}"
POSTGRES_HOST="${POSTGRES_HOST:-postgres}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
HOST="${HOST:-0.0.0.0}"
PORT="${PORT:-5000}"
MLFLOW_ARTIFACTS="${MLFLOW_ARTIFACTS:-/var/lib/mlflow/artifacts}"
db="postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}"

# MLflow's basic auth reads its settings from the ini file MLFLOW_AUTH_CONFIG_PATH names
config_dir="$(mktemp -d)"
chmod 700 "$config_dir"
cat > "$config_dir/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = ${db}/mlflow_auth
admin_username = admin
admin_password = ${MLFLOW_ADMIN_PASSWORD}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$config_dir/basic_auth.ini"
# the database's password stays off the command line (which every user can read)
export MLFLOW_BACKEND_STORE_URI="${db}/mlflow"

exec mlflow server \
    --app-name basic-auth \
    --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS" \
    --host "$HOST" --port "$PORT" \
    --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-*}"
