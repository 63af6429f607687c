#!/bin/sh
# One-shot job of the docker stack: the docker work pool (flow runs in the
# runtime image, on the stack's network, data on the mlops-data volume), the
# deployments of prefect.yaml on it, and the alert automations.
set -eu
cd /app
python - <<'EOF'
import json, os
template = json.load(open("docker/work-pool.json"))
env = template["variables"]["properties"]["env"]["default"]
# Secrets go to the server's database from the environment, never to a file.
for key in ("PREFECT_API_AUTH_STRING", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
            "MLOPS_ALERT_WEBHOOK_URL", "MLOPS_COORDINATION_URL"):
    env[key] = os.environ.get(key, "")
fd = os.open("/tmp/work-pool.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as handle:
    json.dump(template, handle)
EOF
prefect work-pool create mlops-docker --type docker --base-job-template /tmp/work-pool.json --overwrite
rm -f /tmp/work-pool.json
prefect --no-prompt deploy --all
python -m flows.alerts
