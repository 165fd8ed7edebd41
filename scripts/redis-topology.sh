#!/bin/sh
# redis-topology.sh - start or stop a local Redis Sentinel set or Redis Cluster on
# loopback ports, to try ragd against (docs/OPERATIONS.md, "Running many
# instances") and for the tests and benchmarks that need one.
#
#   scripts/redis-topology.sh sentinel up   [base_port]   1 master, 2 replicas, 3 sentinels
#   scripts/redis-topology.sh cluster  up   [base_port]   6 nodes: 3 masters, 3 replicas
#   scripts/redis-topology.sh {sentinel|cluster} down   [base_port]
#   scripts/redis-topology.sh {sentinel|cluster} url    [base_port]
#
# Ports: sentinel set: master base, replicas base+1 and base+2, sentinels
# base+10..base+12 (master name "ragd"). Cluster: nodes base..base+5, or with
# RAGD_TOPOLOGY_CLUSTER_REPLICAS=0 three masters without replicas on base..base+2
# (benchmarks: the replicas' work then stays off a small machine's cores).
# Defaults: base 26379 (sentinel), 17000 (cluster). A cluster node's bus port is
# its port + 10000: "up" refuses a base whose bus ports would reach the kernel's
# ephemeral range (net.ipv4.ip_local_port_range, 32768 by default), where an
# outgoing connection may already hold them. Data and logs go under
# $RAGD_TOPOLOGY_DIR (default /tmp/ragd-topology), one folder per set. "up"
# prints the REDIS_URL to give ragd on its last line and waits until the set
# is ready (sentinels agree on the master / cluster_state:ok). Only
# redis-server and redis-cli are needed (sentinels run as redis-server
# --sentinel). Nothing is persisted to disk beyond the folder; "down" stops
# every process of the set and removes the folder.
set -eu

mode=${1:-}
action=${2:-}
case "$mode" in
sentinel) base=${3:-26379} ;;
cluster) base=${3:-17000} ;;
*) echo "usage: $0 {sentinel|cluster} {up|down|url} [base_port]" >&2; exit 2 ;;
esac
root=${RAGD_TOPOLOGY_DIR:-/tmp/ragd-topology}
dir="$root/$mode-$base"
# Sentinel timings are short so failover tests finish quickly: a master is
# considered down after 2 s, a failover may take up to 10 s.
down_after_ms=${RAGD_TOPOLOGY_DOWN_AFTER_MS:-2000}
failover_timeout_ms=${RAGD_TOPOLOGY_FAILOVER_TIMEOUT_MS:-10000}
cluster_replicas=${RAGD_TOPOLOGY_CLUSTER_REPLICAS:-1}
case "$cluster_replicas" in 0 | 1) ;; *) echo "RAGD_TOPOLOGY_CLUSTER_REPLICAS must be 0 or 1" >&2; exit 2 ;; esac
cluster_nodes=$((3 * (1 + cluster_replicas)))

die() { echo "redis-topology: $*" >&2; exit 1; }

# Start one redis-server on port $1 with extra configuration lines from stdin.
start_node() {
    port=$1
    mkdir -p "$dir/$port"
    {
        echo "port $port"
        echo "bind 127.0.0.1"
        echo "daemonize yes"
        echo "dir $dir/$port"
        echo "pidfile $dir/$port/redis.pid"
        echo "logfile $dir/$port/redis.log"
        echo "save \"\""
        echo "appendonly no"
        # Replicas sync at once (Redis 7 waits 5 s for more replicas by default),
        # so a set is really replicated when "up" returns.
        echo "repl-diskless-sync-delay 0"
        cat
    } >"$dir/$port/redis.conf"
}

# Wait up to 20 s until "redis-cli -p $1 $2..." prints a line matching $pattern.
wait_for() {
    port=$1; pattern=$2; shift 2
    i=0
    while [ $i -lt 200 ]; do
        if redis-cli -p "$port" "$@" 2>/dev/null | grep -q "$pattern"; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    die "port $port: no '$pattern' from '$*' after 20 s (logs in $dir/$port)"
}

sentinel_url() {
    echo "redis+sentinel://127.0.0.1:$((base + 10)),127.0.0.1:$((base + 11)),127.0.0.1:$((base + 12))/ragd"
}

cluster_url() {
    echo "redis+cluster://127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
}

sentinel_up() {
    start_node "$base" </dev/null
    redis-server "$dir/$base/redis.conf"
    for r in 1 2; do
        echo "replicaof 127.0.0.1 $base" | start_node $((base + r))
        redis-server "$dir/$((base + r))/redis.conf"
    done
    wait_for "$base" "connected_slaves:2" INFO replication
    for r in 1 2; do
        wait_for $((base + r)) "master_link_status:up" INFO replication
    done
    for s in 10 11 12; do
        port=$((base + s))
        start_node "$port" <<EOF
sentinel monitor ragd 127.0.0.1 $base 2
sentinel down-after-milliseconds ragd $down_after_ms
sentinel failover-timeout ragd $failover_timeout_ms
sentinel parallel-syncs ragd 1
EOF
        redis-server "$dir/$port/redis.conf" --sentinel
    done
    for s in 10 11 12; do
        wait_for $((base + s)) "^$base\$" SENTINEL get-master-addr-by-name ragd
        wait_for $((base + s)) "num-other-sentinels" SENTINEL master ragd
    done
    # Every sentinel must know the other two before a failover can be voted.
    for s in 10 11 12; do
        i=0
        while [ "$(redis-cli -p $((base + s)) SENTINEL master ragd | sed -n '/^num-other-sentinels$/{n;p}')" != 2 ]; do
            [ $i -lt 200 ] || die "sentinel $((base + s)) does not see the other sentinels"
            sleep 0.1
            i=$((i + 1))
        done
    done
    sentinel_url
}

# The lowest ephemeral port (outgoing connections take ports from there up).
ephemeral_low() {
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
    case "$low" in '' | *[!0-9]*) echo 32768 ;; *) echo "$low" ;; esac
}

# Refuse a cluster base whose bus ports (node port + 10000) reach that range.
cluster_check_ports() {
    low=$(ephemeral_low)
    last_bus=$((base + cluster_nodes - 1 + 10000))
    [ "$last_bus" -lt "$low" ] ||
        die "cluster bus port $last_bus (node port + 10000) is in the ephemeral port range ($low and up): choose a base below $((low - 10000 - cluster_nodes + 1))"
}

cluster_up() {
    nodes=""
    all=$(seq 0 $((cluster_nodes - 1)))
    for n in $all; do
        port=$((base + n))
        start_node "$port" <<EOF
cluster-enabled yes
cluster-config-file $dir/$port/nodes.conf
cluster-node-timeout 2000
EOF
        redis-server "$dir/$port/redis.conf"
        nodes="$nodes 127.0.0.1:$port"
    done
    for n in $all; do
        wait_for $((base + n)) PONG PING
    done
    # shellcheck disable=SC2086
    redis-cli --cluster create $nodes --cluster-replicas "$cluster_replicas" --cluster-yes >"$dir/create.log" 2>&1 ||
        die "cluster create failed: see $dir/create.log"
    for n in $all; do
        wait_for $((base + n)) "cluster_state:ok" CLUSTER INFO
    done
    # A replica that never finished its first sync cannot be promoted: wait for it.
    for n in $all; do
        if redis-cli -p $((base + n)) INFO replication | grep -q "role:slave"; then
            wait_for $((base + n)) "master_link_status:up" INFO replication
        fi
    done
    cluster_url
}

# Stop every process whose pid file is in the set's folder, then remove it. Pids
# are read once: redis-server deletes its pid file as it exits.
topology_down() {
    [ -d "$dir" ] || return 0
    pids=""
    for pidfile in "$dir"/*/redis.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null || true)
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        [ "$pid" -gt 1 ] || continue
        kill "$pid" 2>/dev/null || true
        pids="$pids $pid"
    done
    for pid in $pids; do
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}

case "$action" in
up)
    command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
    [ "$mode" = sentinel ] || cluster_check_ports
    topology_down
    mkdir -p "$dir"
    "${mode}_up"
    ;;
down) topology_down ;;
url) "${mode}_url" ;;
*) echo "usage: $0 {sentinel|cluster} {up|down|url} [base_port]" >&2; exit 2 ;;
esac
