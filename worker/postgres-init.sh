#!/bin/sh
# Run once by the postgres image on an empty data folder (docker-entrypoint-initdb.d):
# the databases of MLflow (runs), MLflow's basic auth (users) and Prefect, owned by POSTGRES_USER.
set -eu
for db in mlflow mlflow_auth prefect; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -c "CREATE DATABASE $db OWNER \"$POSTGRES_USER\";"
done
