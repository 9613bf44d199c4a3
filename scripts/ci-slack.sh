#!/usr/bin/env bash
# Post one line to Slack from a CI job that failed (.github/workflows/*.yml): to the webhook in
# SLACK_WEBHOOK_URL, the CI secret store's copy of the stack's `slack_webhook_url` (the one webhook
# the scanners' alerts and drift use). Not set: nothing is posted. Slack being down never fails the job.
#
#   scripts/ci-slack.sh "pull request #12: the manifest scan failed: <run URL>"
set -euo pipefail
message="${1:?usage: scripts/ci-slack.sh MESSAGE}"
if [ -z "${SLACK_WEBHOOK_URL:-}" ]; then
  echo "ci-slack: SLACK_WEBHOOK_URL is not set; not posting" >&2
  exit 0
fi
# JSON-encode the message (it may hold quotes or newlines); the URL is never printed.
payload="$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1]}))' "$message")"
if ! curl -fsS --retry 2 --max-time 15 -H 'Content-Type: application/json' -d "$payload" "$SLACK_WEBHOOK_URL" >/dev/null 2>&1; then
  echo "ci-slack: posting to Slack failed" >&2
fi
