#!/usr/bin/env bash
# Allowlist firewall for the agents' container.
#
# Agents in this container run without permission prompts on issues anyone may have
# written, so the network is the last line between a misled agent and the world. This
# script lets the container reach only GitHub's web, API and git ranges, the hosts in
# the allowlist file and the operator's extra hosts, each on an exact port; DNS goes
# only to the container's own resolver; everything else is refused at once.
#
# It must never leave the container open: it blocks everything first, builds the
# allowlist while blocked, and on any error leaves only loopback and exits non-zero.
# It is safe to run again; each run rebuilds the same rules from nothing.
#
# It runs through sudo with no arguments. sudo resets the environment, so the
# variables below only take effect when root runs the script directly (the tests
# point them at a lab). The operator's FIREWALL_EXTRA_HOSTS and GITHUB_TOKEN are also
# read from the container's first process, which runs as root so that the agent can
# neither change nor trace it.
#
#   FIREWALL_ALLOWLIST      allowlist file (lines: host port [optional])
#   FIREWALL_RESOLVERS      resolver addresses (default: nameservers in resolv.conf)
#   FIREWALL_META_URL       GitHub's meta endpoint (default: https://api.github.com/meta)
#   FIREWALL_META_PORT      port allowed on GitHub's ranges (default: 443)
#   FIREWALL_EXTRA_HOSTS    more hosts, space-separated host:port ([v6]:port for IPv6)
#   FIREWALL_CHECK_ALLOWED  URLs that must answer once the firewall is up
#   FIREWALL_CHECK_BLOCKED  URLs that must be refused once the firewall is up
#   FIREWALL_STATUS_FILE    written after a successful run, removed at the start of one
#   FIREWALL_CONTAINER_ENV  where the container's creation environment is read from
set -euo pipefail
umask 022

allowlist=${FIREWALL_ALLOWLIST:-/usr/local/etc/firewall-allowlist}
meta_url=${FIREWALL_META_URL:-https://api.github.com/meta}
meta_port=${FIREWALL_META_PORT:-443}
check_allowed=${FIREWALL_CHECK_ALLOWED:-https://api.github.com/zen}
check_blocked=${FIREWALL_CHECK_BLOCKED:-https://example.com}
status_file=${FIREWALL_STATUS_FILE:-/run/devcontainer-firewall.ok}
container_env=${FIREWALL_CONTAINER_ENV:-/proc/1/environ}
meta_timeout=20

live4=fw-allow4
live6=fw-allow6
build4=fw-build4
build6=fw-build6
with_ipv6=0
ipt4=
ipt6=
workdir=

say() { printf 'firewall: %s\n' "$*" >&2; }
warn() { printf 'firewall: warning: %s\n' "$*" >&2; }
die() {
  printf 'firewall: error: %s\n' "$*" >&2
  exit 1
}

# The variable from our own environment, else from the container's creation
# environment (NUL-separated, as the kernel keeps it).
setting() {
  local name=$1 value=${!1:-}
  if [ -z "$value" ]; then
    if ! value=$(tr '\0' '\n' 2>/dev/null <"$container_env" | sed -n "s/^${name}=//p"); then
      warn "cannot read $container_env, so $name from the container's settings is ignored"
      value=
    fi
    value=${value%%$'\n'*}
  fi
  printf '%s' "$value"
}

pick_iptables() {
  local variant
  # Rules written by one backend are invisible to the other, so a run keeps to the
  # first backend that works here, in a stable order.
  for variant in "" -legacy -nft; do
    if command -v "iptables$variant" >/dev/null 2>&1 &&
      "iptables$variant" -w -S OUTPUT >/dev/null 2>&1; then
      ipt4="iptables$variant"
      ipt6="ip6tables$variant"
      break
    fi
  done
  [ -n "$ipt4" ] || die "no working iptables here (tried iptables, iptables-legacy," \
    "iptables-nft); install the iptables package and start the container with NET_ADMIN"
  command -v ipset >/dev/null 2>&1 || die "ipset is missing; install the ipset package"
  if [ -e /proc/net/if_inet6 ]; then
    with_ipv6=1
    "$ipt6" -w -S OUTPUT >/dev/null 2>&1 ||
      die "IPv6 is enabled but $ipt6 does not work; IPv6 would stay open, so nothing was opened"
  fi
}

families() {
  echo 4
  if [ "$with_ipv6" = 1 ]; then echo 6; fi
}

ipt() {
  local family=$1
  shift
  if [ "$family" = 4 ]; then "$ipt4" -w "$@"; else "$ipt6" -w "$@"; fi
}

# Everything refused but loopback (and, while building, replies to our own queries).
# Each run starts from this, so a second run cannot stack or lose rules.
lock_down() {
  local family=$1 keep_established=$2 set_name reject_other
  if [ "$family" = 4 ]; then
    set_name=$live4
    reject_other=icmp-admin-prohibited
  else
    set_name=$live6
    reject_other=icmp6-adm-prohibited
  fi
  for chain in INPUT FORWARD OUTPUT; do ipt "$family" -P "$chain" DROP; done
  ipt "$family" -F
  ipt "$family" -X
  ipset create -exist "$set_name" hash:net,port family "inet${family/4/}"
  ipset flush "$set_name"

  ipt "$family" -A INPUT -i lo -j ACCEPT
  ipt "$family" -A OUTPUT -o lo -j ACCEPT
  if [ "$family" = 6 ]; then
    # Without neighbour discovery IPv6 cannot reach even the allowed hosts.
    for type in neighbour-solicitation neighbour-advertisement router-advertisement; do
      ipt 6 -A INPUT -p icmpv6 --icmpv6-type "$type" -j ACCEPT
    done
    for type in neighbour-solicitation neighbour-advertisement router-solicitation; do
      ipt 6 -A OUTPUT -p icmpv6 --icmpv6-type "$type" -j ACCEPT
    done
  fi
  if [ "$keep_established" = 1 ]; then
    ipt "$family" -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ipt "$family" -A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ipt "$family" -N FW-ALLOW
    ipt "$family" -A OUTPUT -j FW-ALLOW
    ipt "$family" -A FW-ALLOW -m set --match-set "$set_name" dst,dst -j ACCEPT
  fi
  # Refused rather than dropped, so a blocked tool fails at once instead of hanging.
  ipt "$family" -A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
  ipt "$family" -A OUTPUT -j REJECT --reject-with "$reject_other"
}

on_exit() {
  local status=$?
  if [ -n "$workdir" ]; then rm -rf "$workdir"; fi
  if [ "$status" != 0 ] && [ -n "$ipt4" ]; then
    for family in $(families); do lock_down "$family" 0 2>/dev/null || true; done
    printf 'firewall: all traffic but loopback is blocked; fix the error above and run' >&2
    printf ' the firewall again (sudo %s)\n' "$0" >&2
  fi
  exit "$status"
}

is_ipv6() { [[ $1 == *:* ]]; }

# Prints one address per line; IPv4-mapped IPv6 answers are the IPv4 ones again.
resolve() {
  local host=$1
  if [[ $host =~ ^[0-9.]+$ ]] || is_ipv6 "$host"; then
    printf '%s\n' "$host"
    return 0
  fi
  getent ahosts "$host" 2>/dev/null | awk '{print $1}' | grep -vi '^::ffff:' | sort -u || true
}

# Adds "address,tcp:port" entries for host to the batch file of its family.
# Returns non-zero when the host has no address.
add_host() {
  local host=$1 port=$2 batch=$3 found=0 address
  while IFS= read -r address; do
    [ -n "$address" ] || continue
    found=1
    if is_ipv6 "$address"; then
      if [ "$with_ipv6" = 1 ]; then echo "add $build6 $address,tcp:$port" >>"$batch"; fi
    else
      echo "add $build4 $address,tcp:$port" >>"$batch"
    fi
  done < <(resolve "$host")
  [ "$found" = 1 ]
}

check_port() {
  [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 65535 ] ||
    die "$1: port '$2' is not a number from 1 to 65535"
}

allow_resolvers() {
  local resolvers address family
  resolvers=${FIREWALL_RESOLVERS:-$(awk '$1 == "nameserver" {print $2}' /etc/resolv.conf)}
  [ -n "$resolvers" ] || die "no resolver: /etc/resolv.conf names no nameserver"
  if [[ " $resolvers " == *" 127.0.0.11 "* ]]; then
    # Docker's embedded resolver forwards from inside this namespace, to servers we
    # cannot know, so those forwarded queries will be refused.
    warn "the resolver is Docker's embedded one (127.0.0.11); names outside the" \
      "container may not resolve; start the container on the default bridge network"
  fi
  for address in $resolvers; do
    family=4
    if is_ipv6 "$address"; then family=6; fi
    if [ "$family" = 6 ] && [ "$with_ipv6" = 0 ]; then continue; fi
    for proto in udp tcp; do
      ipt "$family" -A FW-ALLOW -p "$proto" -d "$address" --dport 53 -j ACCEPT
    done
    say "allowed DNS to $address only"
  done
}

# While everything else is blocked, only the meta endpoint's own host is let through.
fetch_meta() {
  local target=$1 rest host port batch=$workdir/meta-host token
  rest=${meta_url#*://}
  rest=${rest%%/*}
  host=${rest##*@}
  port=443
  [[ $meta_url == http://* ]] && port=80
  if [[ $host == \[*\]* ]]; then
    [[ $host == *\]:* ]] && port=${host##*\]:}
    host=${host#\[}
    host=${host%%\]*}
  elif [[ $host == *:* ]]; then
    port=${host##*:}
    host=${host%:*}
  fi
  check_port "meta URL $meta_url" "$port"

  : >"$batch"
  add_host "$host" "$port" "$batch" || die "cannot resolve $host (from the meta URL $meta_url)"
  sed -e "s/ $build4 / $live4 /" -e "s/ $build6 / $live6 /" "$batch" | ipset restore -exist

  local -a auth=()
  token=$(setting GITHUB_TOKEN)
  # The token only ever travels over HTTPS, and never on a command line.
  if [ -n "$token" ] && [[ $meta_url == https://* ]]; then
    printf 'header = "Authorization: Bearer %s"\n' "$token" >"$workdir/auth"
    auth=(--config "$workdir/auth")
  fi
  curl --silent --show-error --fail --noproxy '*' --max-time "$meta_timeout" \
    --retry 2 --retry-delay 1 "${auth[@]}" --output "$target" "$meta_url" ||
    die "could not fetch GitHub's address ranges from $meta_url (curl exit $?)"
}

# Prints "4 cidr" and "6 cidr" lines for GitHub's web, API and git ranges.
meta_ranges() {
  python3 - "$1" <<'PY'
import ipaddress
import json
import sys

try:
    with open(sys.argv[1], encoding="utf-8") as handle:
        meta = json.load(handle)
except (OSError, ValueError) as error:
    sys.exit(f"the meta endpoint did not return JSON ({error})")
if not isinstance(meta, dict):
    sys.exit("the meta endpoint returned JSON that is not an object")
seen = set()
for key in ("web", "api", "git"):
    ranges = meta.get(key)
    if not isinstance(ranges, list) or not ranges:
        sys.exit(f"the meta endpoint's '{key}' is not a list of ranges")
    for text in ranges:
        try:
            network = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            sys.exit(f"the meta endpoint's '{key}' holds {text!r}, which is not a range")
        # A range this wide would open most of the internet; no real answer has one.
        if network.prefixlen < (8 if network.version == 4 else 16):
            sys.exit(f"the meta endpoint's '{key}' holds {text}, which is far too wide")
        seen.add((network.version, str(network)))
for version, network in sorted(seen):
    print(version, network)
PY
}

build_allowlist() {
  local batch=$workdir/batch ranges=$workdir/ranges line host port kind count
  : >"$batch"
  echo "create $build4 hash:net,port family inet -exist" >>"$batch"
  echo "flush $build4" >>"$batch"
  if [ "$with_ipv6" = 1 ]; then
    echo "create $build6 hash:net,port family inet6 -exist" >>"$batch"
    echo "flush $build6" >>"$batch"
  fi

  meta_ranges "$workdir/meta.json" >"$ranges" || die "unusable answer from $meta_url"
  while read -r version network; do
    if [ "$version" = 4 ]; then
      echo "add $build4 $network,tcp:$meta_port" >>"$batch"
    elif [ "$with_ipv6" = 1 ]; then
      echo "add $build6 $network,tcp:$meta_port" >>"$batch"
    fi
  done <"$ranges"
  say "allowed $(wc -l <"$ranges") GitHub ranges on port $meta_port"

  [ -r "$allowlist" ] || die "cannot read the allowlist file $allowlist"
  count=0
  while IFS= read -r line || [ -n "$line" ]; do
    count=$((count + 1))
    line=${line%%#*}
    read -r host port kind <<<"$line" || true
    [ -n "${host:-}" ] || continue
    [ -n "${port:-}" ] || die "$allowlist line $count: '$host' has no port (write: host port)"
    check_port "$allowlist line $count" "$port"
    case ${kind:-required} in
      required)
        add_host "$host" "$port" "$batch" ||
          die "$allowlist line $count: $host does not resolve; it is required" ;;
      optional)
        add_host "$host" "$port" "$batch" ||
          warn "$allowlist line $count: optional $host does not resolve; left out" ;;
      *) die "$allowlist line $count: '$kind' must be 'optional' or nothing" ;;
    esac
  done <"$allowlist"

  local entry
  for entry in $(setting FIREWALL_EXTRA_HOSTS); do
    if [[ $entry == \[*\]:* ]]; then
      host=${entry%%\]*}
      host=${host#\[}
    else
      host=${entry%:*}
    fi
    port=${entry##*:}
    [[ $entry == *:* ]] && [ -n "$host" ] ||
      die "FIREWALL_EXTRA_HOSTS: '$entry' must be host:port"
    check_port "FIREWALL_EXTRA_HOSTS entry $entry" "$port"
    add_host "$host" "$port" "$batch" ||
      die "FIREWALL_EXTRA_HOSTS: $host does not resolve; fix the name or drop it"
    say "allowed $host on port $port (FIREWALL_EXTRA_HOSTS)"
  done

  ipset restore -exist <"$batch" || die "ipset refused the allowlist built in $batch"
  # Swapping makes the new allowlist live in one step; the old one goes with the build set.
  ipset swap "$build4" "$live4"
  ipset destroy "$build4"
  if [ "$with_ipv6" = 1 ]; then
    ipset swap "$build6" "$live6"
    ipset destroy "$build6"
  fi
}

verify() {
  local url
  for url in $check_blocked; do
    if curl --silent --noproxy '*' --max-time 5 --output /dev/null "$url"; then
      die "verification failed: $url answered, but it should be blocked"
    fi
    say "checked: $url is blocked"
  done
  for url in $check_allowed; do
    curl --silent --noproxy '*' --max-time 10 --output /dev/null "$url" ||
      die "verification failed: $url did not answer, but it should be allowed"
    say "checked: $url answers"
  done
}

main() {
  [ "$#" = 0 ] || die "takes no arguments (its settings are fixed when the container starts)"
  [ "$(id -u)" = 0 ] || die "must run as root; run: sudo $0"
  # Gone first, so that no early failure leaves a stale claim that the firewall is up.
  rm -f "$status_file"
  pick_iptables
  trap on_exit EXIT

  for family in $(families); do lock_down "$family" 1; done
  allow_resolvers
  workdir=$(mktemp -d)
  fetch_meta "$workdir/meta.json"
  build_allowlist
  verify

  date -u +%Y-%m-%dT%H:%M:%SZ >"$status_file"
  local scope="IPv4 only, IPv6 is off here"
  if [ "$with_ipv6" = 1 ]; then scope="IPv4 and IPv6"; fi
  say "done: only the allowlist is reachable ($scope, $ipt4)"
}

main "$@"
