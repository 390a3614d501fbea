#!/usr/bin/env bash
# Sourced by scripts/testcluster: N compute nodes on one machine (`up --nodes N`, N >= 2).
#
# Each node is a network namespace with one address on a bridge this cluster creates (names unique
# per cluster: bridge kbb<ID>, host-side links kbv<ID><k>, namespaces kb-<ID>-node<k>), and a mount
# and UTS namespace of its own (kept in DIR/ns/node<k>.{mnt,uts}) in which
#   /tmp, /run                  are the node's own (DIR/nodes/node<k>/tmp, run)
#   DIR                         is the cluster directory, seen at the same path, except
#   DIR/node, DIR/munge-sock    the node's job records and keeper socket, and its munged's socket
#   DIR/krb5bridge.conf         the node's config (its host principal and keytab)
# and whose host name is node<k>. Every node runs its own munged (the cluster's key), slurmd
# (NodeName node<k>) and keeper, all as installed: the same plugin, helper and file paths as the
# one-node cluster, only the configuration differs. slurmctld, the KDC, munged, the store(s) and
# the users' commands stay in this namespace, reachable from the nodes at the bridge's address
# (BRIDGE_IP, 10.213.<n>.1). The nodes have no route but their subnet: nothing leaves the machine.
# shellcheck shell=bash disable=SC2154 # DIR, REALM, TC_* come from testcluster and DIR/env

nodes_count() { echo "${NODES:-1}"; }

node_name() { echo "node$1"; }

# Parse NODE (node2 or 2) into its number; die unless it is a node of this cluster.
node_number() {
  local n=${1#node}
  in_range "$n" 1 "$NODES" || die "no node \"$1\" in this cluster (nodes: node1..node$NODES)"
  echo "$n"
}

node_ns() { echo "kb-$NET_ID-node$1"; }

# Run a command inside node K's namespaces (network, mount, host name), working directory /.
node_exec() {
  local k=$1; shift
  nsenter --net="/run/netns/$(node_ns "$k")" --mount="$DIR/ns/node$k.mnt" --uts="$DIR/ns/node$k.uts" --wd=/ -- "$@"
}

# A subnet 10.213.<n>.0/24 no interface of this machine uses (other clusters' bridges included).
pick_subnet() {
  local used n i
  used=$(ip -o -4 addr show | awk '{print $4}')
  for ((i = 0; i < 50; i++)); do
    n=$((RANDOM % 250 + 1))
    grep -q "^10\.213\.$n\." <<<"$used" || { echo "$n"; return 0; }
  done
  die "no free subnet 10.213.x.0/24 found (50 tries): too many test clusters?"
}

nodes_setup() {
  NODES=$1
  if ! command -v nsenter >/dev/null || ! command -v ip >/dev/null; then die "--nodes needs ip (iproute2) and nsenter (util-linux)"; fi
  NET_ID=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 5 || true)
  local sub
  sub=$(pick_subnet)
  NODE_NET=10.213.$sub
  BRIDGE=kbb$NET_ID
  BRIDGE_IP=$NODE_NET.1
  STORE_HOST=$BRIDGE_IP
}

node_ip() { echo "$NODE_NET.$((10 + $1))"; }

# The bridge, each node's namespaces, its link and address, its directories. Recorded in DIR/env
# first (nodes_env), so that down removes whatever part of it exists.
net_up() {
  local k base
  base=$(basename "$DIR")
  ip link add "$BRIDGE" type bridge || die "cannot create the bridge $BRIDGE (ip link add)"
  ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -m 0700 "$DIR/ns"
  # Persistent namespace files need a mount point that does not propagate: DIR/ns bound on itself.
  mount --bind "$DIR/ns" "$DIR/ns"
  mount --make-private "$DIR/ns"
  for ((k = 1; k <= NODES; k++)); do
    local d=$DIR/nodes/node$k ns
    ns=$(node_ns "$k")
    mkdir -p "$d"/{run,munge-sock,log} "$d/tmp/$base"
    mkdir -m 0700 "$d/node" "$d/munge" "$d/kdc"
    chmod 1777 "$d/tmp"
    chmod 0755 "$d" "$d"/{run,munge-sock,log}
    ip netns add "$ns"
    ip link add "kbv$NET_ID$k" type veth peer name eth0 netns "$ns"
    ip link set "kbv$NET_ID$k" master "$BRIDGE" up
    ip netns exec "$ns" sh -c "ip link set lo up && ip addr add $(node_ip "$k")/24 dev eth0 && ip link set eth0 up"
    touch "$DIR/ns/node$k.mnt" "$DIR/ns/node$k.uts"
    # Not `ip netns exec` (it makes a mount namespace of its own, where unshare's bind of the
    # namespace files would land): nsenter only enters the network namespace.
    nsenter --net="/run/netns/$ns" unshare --mount="$DIR/ns/node$k.mnt" --uts="$DIR/ns/node$k.uts" --propagation private \
      sh -c "mount --bind '$DIR' '$d/tmp/$base' && mount --rbind '$d/tmp' /tmp && mount --bind '$d/run' /run \
        && mount --bind '$d/node' '$DIR/node' && mount --bind '$d/munge-sock' '$DIR/munge-sock' && hostname node$k" \
      || die "cannot set up the namespaces of node$k"
  done
}

# The KDC listens on the bridge too; everyone (nodes, users, stores) reaches it there.
nodes_krb5_conf() {
  sed -i -e "s|kdc = 127.0.0.1:$KDC_PORT|kdc = $BRIDGE_IP:$KDC_PORT|" "$DIR/krb5.conf"
  sed -i -e "s|^\(\s*kdc_listen = \).*|\1127.0.0.1:$KDC_PORT $BRIDGE_IP:$KDC_PORT|" \
    -e "s|^\(\s*kdc_tcp_listen = \).*|\1127.0.0.1:$KDC_PORT $BRIDGE_IP:$KDC_PORT|" "$DIR/kdc.conf"
}

# host/node<k> and its keytab (root's, 0600), as a Kerberized site gives each node.
nodes_principals() {
  local k
  for ((k = 1; k <= NODES; k++)); do
    if ! kadmin -q "addprinc -randkey host/node$k@$REALM" >>"$DIR/log/kadmin.local.log" 2>&1 \
      || ! kadmin -q "ktadd -k $DIR/nodes/node$k/kdc/host.keytab host/node$k@$REALM" >>"$DIR/log/kadmin.local.log" 2>&1; then
      die "kadmin.local failed for host/node$k: see $DIR/log/kadmin.local.log"
    fi
    chmod 0600 "$DIR/nodes/node$k/kdc/host.keytab"
  done
}

# Each node's krb5bridge.conf: the cluster's, with its own host principal and keytab (node_name
# is left to its default, the host name node<k>), bound over DIR/krb5bridge.conf on that node.
# The store's policy lets root on the nodes fetch, from their subnet or as host/node*.
nodes_store_conf() {
  local k f
  sed -i "1a allow node uid 0 host $NODE_NET.0/24,node*\\nallow node,admin uid 0 host $BRIDGE_IP" "$DIR/store.acl"
  for ((k = 1; k <= NODES; k++)); do
    f=$DIR/nodes/node$k/krb5bridge.conf
    sed -e "s|^client_keytab = .*|client_keytab = $DIR/nodes/node$k/kdc/host.keytab|" \
      -e "s|^client_principal = .*|client_principal = host/node$k@$REALM|" \
      -e "/^node_name = /d" "$DIR/krb5bridge.conf" >"$f"
    chmod 0644 "$f"
    node_exec "$k" mount --bind "$f" "$DIR/krb5bridge.conf" || die "cannot bind $f on node$k"
  done
}

nodes_slurm_conf() {
  local k lines=""
  for ((k = 1; k <= NODES; k++)); do
    lines+="NodeName=node$k NodeAddr=$(node_ip "$k") NodeHostName=node$k CPUs=$(nproc) State=UNKNOWN\n"
  done
  sed -i -e "s|^SlurmctldHost=.*|SlurmctldHost=localhost($BRIDGE_IP)|" \
    -e "s|^SlurmdPidFile=.*|SlurmdPidFile=/run/slurmd.pid|" \
    -e "s|^SlurmdSpoolDir=.*|SlurmdSpoolDir=$DIR/slurm/spool-%n|" \
    -e "s|^SlurmdLogFile=.*|SlurmdLogFile=$DIR/log/slurmd-%n.log|" \
    -e "s|^NodeName=localhost .*|${lines%\\n}|" \
    -e "s|^\(PartitionName=debug Nodes=\)localhost|\1node[1-$NODES]|" "$DIR/slurm.conf"
}

# A daemon on node K: like start_daemon, in the node's namespaces, log DIR/log/NAME.log.
start_node_daemon() {
  local name=$1 k=$2; shift 2
  setsid env -i PATH="$SYS_PATH" TC_DIR="$DIR" KRB5_CONFIG="$DIR/krb5.conf" \
    nsenter --net="/run/netns/$(node_ns "$k")" --mount="$DIR/ns/node$k.mnt" --uts="$DIR/ns/node$k.uts" --wd=/ -- \
    "$@" </dev/null >>"$DIR/log/$name.log" 2>&1 &
  echo $! >"$DIR/pid/$name.pid"
}

start_node_munged() {
  local k=$1
  start_node_daemon "munged-node$k" "$k" munged -F --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file=/run/munged.pid --log-file="$DIR/nodes/node$k/munge/munged.log" --seed-file=/run/munged.seed \
    --origin="$(node_ip "$k")"
}

start_node_slurmd() { start_node_daemon "slurmd-node$1" "$1" slurmd -D -N "node$1" -f "$DIR/slurm.conf"; }

start_node_keeper() {
  start_node_daemon "keeper-node$1" "$1" env SLURM_CONF="$DIR/slurm.conf" "$TC_NODE" "$(helper_cmd)" keeper \
    --config "$DIR/krb5bridge.conf" --tick 2 --sweep-interval "${TC_KEEPER_SWEEP:-5}"
}

node_munge_ready() { node_exec "$1" sh -c "munge -n -S '$MUNGE_SOCKET' | unmunge -S '$MUNGE_SOCKET' >/dev/null"; }

nodes_start() {
  local k
  for ((k = 1; k <= NODES; k++)); do start_node_munged "$k"; done
  for ((k = 1; k <= NODES; k++)); do
    wait_for 10 node_munge_ready "$k" || die "munged of node$k did not answer within 10 s: see $DIR/nodes/node$k/munge/munged.log"
  done
  for ((k = 1; k <= NODES; k++)); do start_node_slurmd "$k"; done
}

# Every node idle (slurm_ready for several nodes).
nodes_idle() {
  local states
  states=$(SLURM_CONF="$DIR/slurm.conf" sinfo -h -N -o %T 2>/dev/null) || return 1
  [[ $(grep -cx idle <<<"$states") == "$NODES" ]]
}

wait_node_keeper() {
  local k=$1 mark=${2:-0} i
  for ((i = 0; i < 200; i++)); do
    tail -n +"$((mark + 1))" "$DIR/log/keeper-node$k.log" 2>/dev/null | grep -q 'keeper listening on' && return 0
    pid_alive "$(<"$DIR/pid/keeper-node$k.pid")" || die "the keeper of node$k exited at start-up: see $DIR/log/keeper-node$k.log"
    sleep 0.05
  done
  die "the keeper of node$k did not listen within 10 s: see $DIR/log/keeper-node$k.log"
}

nodes_keepers() {
  local k
  for ((k = 1; k <= NODES; k++)); do start_node_keeper "$k"; done
  for ((k = 1; k <= NODES; k++)); do wait_node_keeper "$k"; done
}

nodes_env() {
  local ips="" k
  for ((k = 1; k <= NODES; k++)); do ips+="${ips:+ }$(node_ip "$k")"; done
  printf 'export %s=%q\n' TC_NODES "$NODES" TC_NET_ID "$NET_ID" TC_NODE_NET "$NODE_NET" TC_BRIDGE "$BRIDGE" \
    TC_BRIDGE_IP "$BRIDGE_IP" TC_NODE_IPS "$ips" TC_STORE_HOST "$STORE_HOST" >>"$DIR/env"
}

nodes_load_env() {
  NODES=${TC_NODES:-1} NET_ID=${TC_NET_ID:-} NODE_NET=${TC_NODE_NET:-} BRIDGE=${TC_BRIDGE:-}
  BRIDGE_IP=${TC_BRIDGE_IP:-} STORE_HOST=${TC_STORE_HOST:-127.0.0.1}
}

# Daemon names this file adds, for stop/status/down.
nodes_daemons() {
  local k
  ((${NODES:-1} > 1)) || return 0
  for ((k = 1; k <= NODES; k++)); do echo "keeper-node$k" "slurmd-node$k" "munged-node$k"; done
}

# Stop every process left in the nodes' namespaces, then remove the namespaces, links, addresses
# and mounts (each only if it exists: down may follow a bring-up that failed half-way).
nodes_down() {
  ((${NODES:-1} > 1)) && [[ -n ${NET_ID:-} ]] || return 0
  local k ns pids
  for ((k = 1; k <= NODES; k++)); do
    ns=$(node_ns "$k")
    [[ -e /run/netns/$ns ]] || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086 # one pid per word
      kill -KILL $pids 2>/dev/null || true
    fi
  done
  for ((k = 1; k <= NODES; k++)); do
    ns=$(node_ns "$k")
    for f in "$DIR/ns/node$k.mnt" "$DIR/ns/node$k.uts"; do
      mountpoint -q "$f" 2>/dev/null && umount "$f"
    done
    [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    # Removing the namespace destroys the veth pair, but the kernel does it asynchronously: the
    # host-side link may vanish between a check and `ip link del`, so that one may fail.
    link_gone "kbv$NET_ID$k"
  done
  mountpoint -q "$DIR/ns" 2>/dev/null && umount "$DIR/ns"
  link_gone "$BRIDGE"
  return 0
}

# Remove link NAME if it is there and wait (up to 5 s) until the kernel no longer shows it;
# a link that disappeared on its own (its veth peer's namespace went) counts as removed.
link_gone() {
  local name=$1 i
  for ((i = 0; i < 50; i++)); do
    ip link show "$name" >/dev/null 2>&1 || return 0
    ip link del "$name" 2>/dev/null || true
    sleep 0.1
  done
  die "link $name is still there 5 s after ip link del (ip link show $name)"
}

# `on NODE --dir DIR [--as NAME] [--cwd D] -- CMD...`: run CMD on that node, as root or as user NAME
# (with the clean environment `as` gives). Exits with CMD's status.
cmd_on() {
  need_root
  local node="" user="" cwd="" argv=()
  while (($#)); do
    case $1 in
      --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
      --as) user=${2:?--as needs a user name}; shift 2 ;;
      --cwd) cwd=${2:?--cwd needs a directory}; shift 2 ;;
      --) shift; argv=("$@"); break ;;
      -*) die "on: unknown option \"$1\"" ;;
      *) [[ -z $node ]] || die "on: unexpected argument \"$1\" (put the command after --)"; node=$1; shift ;;
    esac
  done
  [[ -n $node ]] || die "on: name the node (node1, node2, ...)"
  ((${#argv[@]})) || die "on: give the command after --"
  load_env
  nodes_load_env
  ((NODES > 1)) || die "on: this cluster has one node (bring it up with --nodes N)"
  local k
  k=$(node_number "$node")
  set +e
  # shellcheck disable=SC2016 # the inner sh expands $1 and $@
  if [[ -z $user ]]; then
    node_exec "$k" sh -c 'cd "$1" && shift && exec "$@"' sh "${cwd:-/}" env -i PATH="$SYS_PATH" \
      KRB5_CONFIG="$DIR/krb5.conf" SLURM_CONF="$DIR/slurm.conf" KRB5BRIDGE_CONFIG="$DIR/krb5bridge.conf" TC_DIR="$DIR" "${argv[@]}"
  else
    NAME=$user
    id -u "$NAME" >/dev/null 2>&1 || die "no user $NAME: run '$PROG adduser $NAME --dir $DIR' first"
    user_env
    # shellcheck disable=SC2016 # the inner sh expands $1 and $@
    node_exec "$k" sh -c 'cd "$1" && shift && exec "$@"' sh "${cwd:-$DIR/users/$NAME}" runuser -u "$NAME" -- "${ENV[@]}" "${argv[@]}"
  fi
  exit $?
}
