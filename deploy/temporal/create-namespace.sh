#!/bin/sh
# One-shot: the namespace intake runs in (one per environment) and intake's custom search
# attributes (workflows/search_attributes.py), once the server answers. Safe to run again.
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE must be set}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
RETENTION="${TEMPORAL_RETENTION:-720h}"

echo "waiting for Temporal at ${ADDRESS}"
attempt=0
until temporal operator cluster health --address "$ADDRESS"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then echo "Temporal did not answer at ${ADDRESS}"; exit 1; fi
  sleep 2
done

temporal operator namespace describe --address "$ADDRESS" -n "$NAMESPACE" \
  || temporal operator namespace create --address "$ADDRESS" -n "$NAMESPACE" --retention "$RETENTION"

for attribute in IntakeTeamId IntakeUserId IntakeDiscussionId IntakeWorkOrderId IntakeWorkspace IntakeBatchId; do
  temporal operator search-attribute create --address "$ADDRESS" -n "$NAMESPACE" \
    --name "$attribute" --type Keyword \
    || echo "search attribute $attribute exists"
done
echo "namespace ${NAMESPACE} ready"
