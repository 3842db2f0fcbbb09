#!/bin/sh
# Makes a Redis Cluster of the given nodes, once: `redis-cli --cluster create` with REPLICAS
# replicas per primary (default 1: 6 nodes = 3 primaries + 3 replicas). Used by
# docker-compose.cluster.yml (a one-shot service) and deploy/k8s/redis-cluster (a Job).
#
#   init-cluster.sh host:port host:port host:port [host:port ...]
#
# Waits up to WAIT_SECONDS (120) for every node to answer PING, resolves host names to
# addresses (redis-cli --cluster create wants addresses), and does nothing when the first node
# already belongs to a cluster (so that a restart of the job is harmless). Then waits until every
# node reports cluster_state:ok. With a password, set REDISCLI_AUTH (redis-cli reads it).
set -eu
REPLICAS="${REPLICAS:-1}"
WAIT_SECONDS="${WAIT_SECONDS:-120}"
if [ "$#" -lt 3 ]; then
  echo "usage: init-cluster.sh host:port host:port host:port [host:port ...]" >&2
  exit 2
fi

ping_ok() { redis-cli -h "${1%:*}" -p "${1##*:}" ping 2>/dev/null | grep -q PONG; }
info_of() { redis-cli -h "${1%:*}" -p "${1##*:}" cluster info | tr -d '\r' | sed -n "s/^$2://p"; }
state_ok() { [ "$(info_of "$1" cluster_state)" = "ok" ]; }
# wait_for <check> <node> <what it waits for>: runs the check once a second, up to WAIT_SECONDS
wait_for() {
  waited=0
  until "$1" "$2"; do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      echo "init-cluster: $2 $3 after ${WAIT_SECONDS} s" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}
address_of() {
  ip=$(getent hosts "${1%:*}" 2>/dev/null | awk '{ print $1; exit }')
  echo "${ip:-${1%:*}}:${1##*:}"
}

nodes=""
for n in "$@"; do
  wait_for ping_ok "$n" "does not answer PING"
  nodes="$nodes $(address_of "$n")"
done

known=$(info_of "$1" cluster_known_nodes)
if [ "${known:-1}" -gt 1 ]; then
  echo "init-cluster: $1 already knows a cluster of $known nodes; nothing to do"
  exit 0
fi

# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $nodes --cluster-replicas "$REPLICAS" --cluster-yes

for n in "$@"; do
  wait_for state_ok "$n" "is not cluster_state:ok"
done
echo "init-cluster: cluster of $# nodes ready ($REPLICAS replica(s) per primary)"
