#!/usr/bin/env bash
# Starts the controller inside the container, once the sandbox around it is in place.
#
# Agents started here skip their permission prompts, so this script never starts the
# controller when the firewall is not up, when it would run as root, or without a
# token. With --detach it starts itself in a tmux session and returns, so the
# container's start command can finish.
#
#   CONTROLLER_WORKSPACE  where the configuration, clone and state live (/workspace)
#   CONTROLLER_CONFIG     configuration file (default: $CONTROLLER_WORKSPACE/controller.yaml)
#   CONTROLLER_REPO       owner/name; writes a minimal configuration when there is none
set -euo pipefail

workspace=${CONTROLLER_WORKSPACE:-/workspace}
config=${CONTROLLER_CONFIG:-$workspace/controller.yaml}
firewall_status=/run/devcontainer-firewall.ok
session=controller

die() {
  printf 'start-controller: %s\n' "$*" >&2
  exit 1
}

if [ "${1:-}" = --detach ]; then
  if [ ! -f "$config" ] && [ -z "${CONTROLLER_REPO:-}" ]; then
    echo "start-controller: not started: no $config and no CONTROLLER_REPO;" \
      "set one, then run start-controller" >&2
    exit 0
  fi
  if tmux has-session -t "=$session" 2>/dev/null; then
    echo "start-controller: already running in tmux session '$session'" >&2
    exit 0
  fi
  tmux new-session -d -s "$session" "$0; echo 'controller stopped'; exec bash -l"
  echo "start-controller: started in tmux session '$session' (tmux attach -t $session)" >&2
  exit 0
fi
[ "$#" = 0 ] || die "unknown argument '$1' (usage: start-controller [--detach])"

[ "$(id -u)" != 0 ] || die "refusing to run agents as root; run this as the container's user"
[ -f "$firewall_status" ] ||
  die "the firewall is not up ($firewall_status is missing); run: sudo init-firewall.sh"
# The status file outlives a restart; the rules do not. A refused probe proves they are up.
if curl --silent --noproxy '*' --max-time 5 --output /dev/null https://example.com; then
  die "example.com answered, so the firewall is not in force; run: sudo init-firewall.sh"
fi
[ -n "${GITHUB_TOKEN:-}" ] ||
  die "GITHUB_TOKEN is not set; pass a fine-grained token for the one repository"

mkdir -p "$workspace"
cd "$workspace"
if [ ! -f "$config" ]; then
  [[ ${CONTROLLER_REPO:-} =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] ||
    die "no $config, and CONTROLLER_REPO ('${CONTROLLER_REPO:-}') is not owner/name"
  # Inside this sandbox a tool permission prompt may be accepted without a person.
  cat >"$config" <<YAML
github:
  repo: $CONTROLLER_REPO
policy:
  permission: accept
YAML
  echo "start-controller: wrote a minimal $config for $CONTROLLER_REPO" >&2
fi

controller --config "$config" doctor
exec controller --config "$config" run
