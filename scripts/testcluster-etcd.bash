#!/usr/bin/env bash
# Sourced by scripts/testcluster: an etcd cluster (Debian's etcd-server 3.4) of M members on
# loopback with free ports, and K krb5bridge stores sharing it (`up --etcd M --stores K`).
# Members are daemons etcd1..etcdM (data DIR/etcd/mN, log DIR/log/etcdN.out); store 1 is the
# usual `store`, stores 2..K are store2..storeK (log DIR/log/storeN.log).
# shellcheck shell=bash disable=SC2154,SC2153 # DIR, REALM, STORE_PORT, TC_* come from testcluster and DIR/env

# Auto-compaction keeps etcd's history (every push and renewal is a revision) from growing
# without bound: revisions older than this are compacted away (a store watching from an older
# revision loads everything again). Sites choose their own (docs/internals.md).
ETCD_COMPACTION_RETENTION=${ETCD_COMPACTION_RETENTION:-10m}

etcd_members() { echo "${TC_ETCD_MEMBERS:-${ETCD_MEMBERS:-0}}"; }

# Ports: ETCD_CLIENT_PORTS / ETCD_PEER_PORTS (space-separated), chosen by etcd_setup.
etcd_setup() {
  local m=$1 ports i
  mapfile -t ports < <(free_ports $((2 * m)))
  ETCD_CLIENT_PORTS="" ETCD_PEER_PORTS="" ETCD_ENDPOINTS="" ETCD_INITIAL=""
  for ((i = 1; i <= m; i++)); do
    ETCD_CLIENT_PORTS+="${ports[2 * i - 2]} "
    ETCD_PEER_PORTS+="${ports[2 * i - 1]} "
    ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}http://127.0.0.1:${ports[2 * i - 2]}"
    ETCD_INITIAL+="${ETCD_INITIAL:+,}m$i=http://127.0.0.1:${ports[2 * i - 1]}"
  done
  ETCD_MEMBERS=$m
  mkdir -m 0700 "$DIR/etcd"
}

# Start member N (1-based); a member keeps its data directory across stops (etcd-start resumes it).
# --pre-vote: a member coming back does not depose the leader (no needless election, no write stall).
etcd_start_member() {
  local n=$1 cport pport state=new
  cport=$(echo "$ETCD_CLIENT_PORTS" | cut -d' ' -f"$n")
  pport=$(echo "$ETCD_PEER_PORTS" | cut -d' ' -f"$n")
  [[ -d $DIR/etcd/m$n/member ]] && state=existing
  start_daemon "etcd$n" etcd --name "m$n" --data-dir "$DIR/etcd/m$n" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$ETCD_INITIAL" --initial-cluster-state "$state" \
    --initial-cluster-token "tc-${REALM,,}" \
    --auto-compaction-mode periodic --auto-compaction-retention "$ETCD_COMPACTION_RETENTION" \
    --heartbeat-interval 100 --election-timeout 1000 --pre-vote --logger zap --log-outputs stderr
}

etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" --command-timeout=2s endpoint health >/dev/null 2>&1; }

etcd_up() {
  local i
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do etcd_start_member "$i"; done
  wait_for 20 etcd_healthy \
    || die "etcd did not become healthy within 20 s ($ETCD_ENDPOINTS): see $DIR/log/etcd*.out"
}

# The stores' addresses (STORE_LIST) and ports: store 1 keeps STORE_PORT; the others get free ports.
stores_setup() {
  local k=$1 host=${2:-127.0.0.1} ports i
  STORE_PORTS=$STORE_PORT
  if ((k > 1)); then
    mapfile -t ports < <(free_ports $((k - 1)))
    STORE_PORTS+=" ${ports[*]}"
  fi
  STORE_LIST=""
  for i in $STORE_PORTS; do STORE_LIST+="${STORE_LIST:+,}$host:$i"; done
  STORES=$k
}

# krb5bridge.conf for several stores: the client list, and storage = etcd with this cluster's prefix.
etcd_store_conf() {
  local f=$DIR/krb5bridge.conf
  sed -e "s|^store = .*|store = $STORE_LIST|" "$f" >"$f.tmp"
  if ((ETCD_MEMBERS > 0)); then
    printf '%s\n' "# storage on the cluster's etcd (docs/internals.md, \"Store state on etcd\")" \
      "storage = etcd" "etcd_endpoints = $ETCD_ENDPOINTS" "etcd_prefix = /krb5bridge/${REALM,,}/" \
      "etcd_lease_ttl = ${TC_ETCD_LEASE_TTL:-4}" >>"$f.tmp"
  fi
  chmod 0644 "$f.tmp"
  mv "$f.tmp" "$f"
}

# Store K (2..): the same helper and config, its own port and log.
start_store_n() {
  local k=$1 port
  port=$(echo "$STORE_PORTS" | cut -d' ' -f"$k")
  if daemon_pid "store$k" >/dev/null; then say "store$k already runs"; return 0; fi
  start_daemon "store$k" "$TC_NODE" "$(helper_cmd)" serve --listen "${STORE_HOST:-127.0.0.1}:$port" \
    --state-dir "$DIR/store$k" --config "$DIR/krb5bridge.conf"
}

wait_store_n() {
  local k=$1 port i
  port=$(echo "$STORE_PORTS" | cut -d' ' -f"$k")
  for ((i = 0; i < 200; i++)); do
    store_ping "${STORE_HOST:-127.0.0.1}:$port" >/dev/null 2>"$DIR/log/store$k-ping.err" && return 0
    pid_alive "$(<"$DIR/pid/store$k.pid")" || die "store$k exited at start-up: see $DIR/log/store$k.log"
    sleep 0.05
  done
  die "store$k did not answer ping within 10 s: see $DIR/log/store$k.log and $DIR/log/store$k-ping.err"
}

stores_up() {
  local k
  for ((k = 2; k <= STORES; k++)); do install -d -m 0700 "$DIR/store$k"; start_store_n "$k"; done
  for ((k = 2; k <= STORES; k++)); do wait_store_n "$k"; done
}

etcd_env() {
  printf 'export %s=%q\n' TC_ETCD_MEMBERS "$ETCD_MEMBERS" TC_ETCD_ENDPOINTS "${ETCD_ENDPOINTS:-}" \
    TC_ETCD_CLIENT_PORTS "${ETCD_CLIENT_PORTS:-}" TC_ETCD_PEER_PORTS "${ETCD_PEER_PORTS:-}" \
    TC_ETCD_INITIAL "${ETCD_INITIAL:-}" TC_STORES "$STORES" TC_STORE_PORTS "$STORE_PORTS" \
    TC_STORE "$STORE_LIST" TC_STORE_LIST "$STORE_LIST" >>"$DIR/env"
}

etcd_load_env() {
  ETCD_MEMBERS=${TC_ETCD_MEMBERS:-0} ETCD_ENDPOINTS=${TC_ETCD_ENDPOINTS:-}
  ETCD_CLIENT_PORTS=${TC_ETCD_CLIENT_PORTS:-} ETCD_PEER_PORTS=${TC_ETCD_PEER_PORTS:-}
  ETCD_INITIAL=${TC_ETCD_INITIAL:-} STORES=${TC_STORES:-1} STORE_PORTS=${TC_STORE_PORTS:-${TC_STORE_PORT:-}}
}

# Daemon names this file adds, for stop/status/down: etcd1..M, store2..K.
etcd_daemons() {
  local i
  for ((i = 1; i <= ${ETCD_MEMBERS:-0}; i++)); do echo "etcd$i"; done
  for ((i = 2; i <= ${STORES:-1}; i++)); do echo "store$i"; done
}

# etcd-stop / etcd-start --member N.
cmd_etcd_member() {
  need_root
  local action=$1 n="" sig=TERM
  shift
  while (($#)); do
    case $1 in
      --dir) DIR=${2:?}; shift 2 ;;
      --member) n=${2:?--member needs a number}; shift 2 ;;
      --signal) sig=${2:?--signal needs a name}; shift 2 ;;
      *) die "etcd-$action: unknown option \"$1\"" ;;
    esac
  done
  load_env
  etcd_load_env
  in_range "$n" 1 "$ETCD_MEMBERS" || die "etcd-$action: --member must be 1..$ETCD_MEMBERS, got \"$n\""
  if [[ $action == stop ]]; then stop_pids "${sig#SIG}" "etcd$n"; else
    daemon_pid "etcd$n" >/dev/null && { say "etcd$n already runs"; return 0; }
    etcd_start_member "$n"
    local cport
    cport=$(echo "$ETCD_CLIENT_PORTS" | cut -d' ' -f"$n")
    wait_for 20 env ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$cport" --command-timeout=2s endpoint health \
      || die "etcd$n did not become healthy within 20 s: see $DIR/log/etcd$n.out"
  fi
}
