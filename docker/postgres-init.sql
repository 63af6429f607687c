-- Runs once, on an empty data volume, as POSTGRES_USER: the databases of the
-- stack besides `prefect` (POSTGRES_DB).
CREATE DATABASE mlflow;
CREATE DATABASE mlflow_auth;
