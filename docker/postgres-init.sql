-- Runs once, on an empty data volume, as POSTGRES_USER: the databases of the
-- stack besides `prefect` (POSTGRES_DB).
CREATE DATABASE mlflow;
CREATE DATABASE mlflow_auth;
-- The product's batch ledger and locks (MLOPS_COORDINATION_URL).
CREATE DATABASE mlops;
