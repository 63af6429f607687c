#!/bin/sh
# Start the MLflow tracking server with its basic-auth app. The auth config is
# written here from the environment (docker/.env), so no secret sits in a file
# of the repository or of the image.
#
# Every address and path has a default that is the compose stack's value; the
# variables below only exist so tests can run this very script on loopback.
set -eu
umask 077
POSTGRES_HOST="${POSTGRES_HOST:-postgres}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
MLFLOW_HOST="${MLFLOW_HOST:-0.0.0.0}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
MLFLOW_ARTIFACTS_DIR="${MLFLOW_ARTIFACTS_DIR:-/mlartifacts}"
MLFLOW_AUTH_CONFIG_PATH="${MLFLOW_AUTH_CONFIG_PATH:-/tmp/mlflow-auth.ini}"
MLFLOW_ALLOWED_HOSTS="${MLFLOW_ALLOWED_HOSTS:-mlflow-server:${MLFLOW_PORT},127.0.0.1:${MLFLOW_PORT},localhost:${MLFLOW_PORT}}"
cat > "${MLFLOW_AUTH_CONFIG_PATH}" <<EOF
[mlflow]
default_permission = READ
database_uri = postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}/mlflow_auth
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
EOF
export MLFLOW_AUTH_CONFIG_PATH
# The store URI holds the database password: pass it in the environment (readable
# by this user only), not on the command line (which `ps` shows to everyone).
export MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}/mlflow"
exec mlflow server --host "${MLFLOW_HOST}" --port "${MLFLOW_PORT}" --app-name basic-auth \
  --artifacts-destination "${MLFLOW_ARTIFACTS_DIR}" \
  --allowed-hosts "${MLFLOW_ALLOWED_HOSTS}"
