#!/bin/sh
# Start the MLflow tracking server with its basic-auth app. The auth config is
# written here from the environment (docker/.env), so no secret sits in a file
# of the repository or of the image.
set -eu
umask 077
cat > /tmp/mlflow-auth.ini <<EOF
[mlflow]
default_permission = READ
database_uri = postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/mlflow_auth
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
EOF
export MLFLOW_AUTH_CONFIG_PATH=/tmp/mlflow-auth.ini
exec mlflow server --host 0.0.0.0 --port 5000 --app-name basic-auth \
  --backend-store-uri "postgresql+psycopg2://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/mlflow" \
  --artifacts-destination /mlartifacts \
  --allowed-hosts "mlflow-server:5000,127.0.0.1:5000,localhost:5000"
