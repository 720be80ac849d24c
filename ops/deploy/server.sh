#!/usr/bin/env bash
# Runs on the server, as root, from an unpacked bundle that ops/deploy/bundle.ts built:
#
#   bash server.sh <bundle dir>
#
# meta.env says what to do (MODE=deploy: install everything; MODE=update: roll out a new commit)
# and where things live (ops/deploy/layout.ts). Every step is idempotent, so a deploy can be re-run.
# The stack itself (ops/stack.ts under jpw.service) does the rest at start: NATS, Postgres, Redis,
# migrations, streams.yaml, Debezium, the services and the edge.
set -euo pipefail
bundle=$1
# shellcheck source=/dev/null
. "$bundle/meta.env"
cd "$bundle"

say() { echo "[$1] ${*:2}"; }
die() {
  echo "error: $*" >&2
  exit 1
}
# systemd runs as PID 1 (not in a chroot or a container without it): services can be started.
booted() { [ -d /run/systemd/system ]; }
export DEBIAN_FRONTEND=noninteractive

# A command as the service user, with the stack's environment and nothing else from ours, and the
# unit's umask: what it writes under the data folder (Debezium's config, credentials) stays owner-only.
as_service() {
  # shellcheck disable=SC2046 # one word per KEY=value line; values carry no spaces (layout.ts checks)
  runuser -u "$JPW_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin $(grep -E '^[A-Z][A-Z0-9_]*=' "$ENV_FILE") \
    /bin/sh -c 'umask 077 && exec "$@"' sh "$@"
}

check_host() {
  # shellcheck source=/dev/null
  . /etc/os-release
  if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 13 ]; then
    die "this is ${PRETTY_NAME:-an unknown system}, not Debian 13"
  fi
  [ "$(uname -m)" = "$ARCH" ] || die "this server is $(uname -m); the tools shipped are $ARCH"
}

install_packages() {
  # postgresql-common reads this before creating a default cluster: the stack runs its own.
  install -d /etc/postgresql-common
  install -m 0644 files/createcluster.conf /etc/postgresql-common/createcluster.conf
  local missing=()
  for p in $PACKAGES; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say apt "all packages present"
  else
    say apt "installing ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  fi
  for s in $MASK; do
    if booted; then systemctl stop "$s" 2>/dev/null || true; fi
    systemctl mask --quiet "$s"
  done
}

create_user_and_folders() {
  id -u "$JPW_USER" >/dev/null 2>&1 ||
    useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin "$JPW_USER"
  install -d -o root -g root -m 0755 "$HOME_DIR" "$RELEASES" "$TOOLS" "$TOOLS/bin" "$ETC" "$CACHE"
  # The stack's data and the credentials it generates: the service user's alone.
  install -d -o "$JPW_USER" -g "$JPW_USER" -m 0700 "$DATA"
}

install_tools() {
  [ -d tools ] || return 0
  install -m 0755 tools/nats-server tools/nats "$TOOLS/bin/"
  say tools "nats-server $("$TOOLS/bin/nats-server" --version | awk '{print $2}'), nats CLI $("$TOOLS/bin/nats" --version)"
}

# Debezium's NATS sink, compiled by the deployer: the server has only a Java runtime.
install_sink() {
  install -d -m 0755 "$TOOLS/debezium-sink"
  install -m 0644 sink/*.jar "$TOOLS/debezium-sink/"
  say debezium "sink $(basename sink/*.jar)"
}

sha_ok() { [ -f "$1" ] && echo "$DEBEZIUM_SHA256  $1" | sha256sum --check --status; }

install_debezium() {
  local home="$TOOLS/debezium-server-$DEBEZIUM_VERSION" file="$CACHE/$DEBEZIUM_FILE"
  if [ -f "$home/run.sh" ]; then
    say debezium "Debezium Server $DEBEZIUM_VERSION present"
    return 0
  fi
  if ! sha_ok "$file"; then
    say debezium "downloading Debezium Server $DEBEZIUM_VERSION from Maven Central (about 780 MB)"
    curl -fsSL --retry 3 --connect-timeout 20 -o "$file.part" "$DEBEZIUM_URL"
    mv "$file.part" "$file"
  fi
  sha_ok "$file" || {
    rm -f "$file"
    die "$DEBEZIUM_URL does not have the SHA-256 this commit pins ($DEBEZIUM_SHA256): not installed"
  }
  say debezium "checksum verified; unpacking"
  rm -rf "$home.partial"
  mkdir -p "$home.partial"
  tar -xzf "$file" -C "$home.partial" --no-same-owner
  mv "$home.partial/debezium-server" "$home"
  rm -rf "$home.partial" "$file"
  for old in "$TOOLS"/debezium-server-*; do [ "$old" = "$home" ] || rm -rf "$old"; done
}

# The new release: a copy of the current one with the changed files applied (update), or the whole
# commit (deploy); the UI as built by the deployer; npm packages exactly as locked.
stage_release() {
  local cur=""
  [ -e "$CURRENT" ] && cur=$(readlink -f "$CURRENT")
  new="$RELEASES/$(date -u +%Y%m%dT%H%M%SZ)-${REVISION:0:12}"
  stage="$new.partial"
  rm -rf "$stage"
  mkdir -p "$stage"
  if [ "$MODE" = update ]; then [ -n "$cur" ] || die "nothing is deployed here yet: run just deploy first"; fi
  if [ "$FULL" = 0 ]; then
    (cd "$cur" && tar -c --exclude=./node_modules .) | tar -x -C "$stage"
    while IFS= read -r f; do [ -z "$f" ] || rm -f -- "$stage/$f"; done <removed.txt
    say release "$(grep -c . changed.txt || true) changed and $(grep -c . removed.txt || true) removed file(s) since ${BASE:0:12}"
  fi
  tar -xf code.tar -C "$stage" --no-same-owner
  if [ -f web.tar ]; then
    rm -rf "$stage/web/dist"
    mkdir -p "$stage/web/dist"
    tar -xf web.tar -C "$stage/web/dist" --no-same-owner
    say release "UI updated"
  fi
  if [ -n "$cur" ] && [ -d "$cur/node_modules" ] && cmp -s "$cur/package-lock.json" "$stage/package-lock.json"; then
    # Same lockfile: the same packages. Hard links cost nothing, and no release ever changes them.
    cp -al "$cur/node_modules" "$stage/node_modules"
    say npm "package-lock.json unchanged: packages reused"
  else
    say npm "npm ci --omit=dev (exactly package-lock.json)"
    (cd "$stage" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  fi
  chown -R root:root "$stage"
  chmod -R u+rwX,go+rX,go-w "$stage"
}

install_files() {
  install -m 0644 files/jpw.service "$UNIT_FILE"
  install -m 0644 files/jpw.env "$ENV_FILE"
  install -m 0755 files/jpw "$WRAPPER"
  install -m 0755 files/nftables.conf /etc/nftables.conf
  install -m 0644 files/20auto-upgrades /etc/apt/apt.conf.d/20auto-upgrades
  install -m 0644 files/52jpw-unattended-upgrades /etc/apt/apt.conf.d/52jpw-unattended-upgrades
  install -d /etc/systemd/journald.conf.d
  install -m 0644 files/journald.conf /etc/systemd/journald.conf.d/jpw.conf
}

firewall() {
  nft -c -f /etc/nftables.conf || die "the firewall rules do not load (nft -c): nothing was changed"
  systemctl enable --quiet nftables.service
  if booted; then
    nft -f /etc/nftables.conf
    say firewall "loaded: inbound tcp $(grep -o 'dport {[^}]*}' /etc/nftables.conf) only"
  else
    say firewall "checked (nft -c) and enabled for boot; not loaded (systemd is not running here)"
  fi
}

# Before a new commit runs: its streams.yaml and migrations against the running system. apply refuses
# a change that would destroy data as a whole (nothing changed), which stops the rollout here.
preflight() {
  local out
  out=$(mktemp)
  say streams "streams.yaml of ${REVISION:0:12} against the running NATS"
  local destructive=()
  [ "${ALLOW_DESTRUCTIVE:-0}" = 1 ] && destructive=(--allow-destructive)
  if ! (cd "$stage" && as_service node --import tsx ops/reconcile/cli.ts apply "${destructive[@]}") 2>&1 | tee "$out"; then
    if grep -q "refusing to apply" "$out"; then
      die "rollout stopped: streams.yaml of ${REVISION:0:12} needs a change that destroys data (above); nothing was changed and the server still runs the previous release. Change streams.yaml so it applies in place, or run just update --allow-destructive if losing that data is intended."
    fi
    die "rollout stopped: streams.yaml could not be applied (above); the server still runs the previous release (is the system running? systemctl status $UNIT_NAME)"
  fi
  say migrate "migrations of ${REVISION:0:12}"
  (cd "$stage" && as_service node --import tsx ops/migrate.ts) ||
    die "rollout stopped: a migration failed (above; it was rolled back); the server still runs the previous release"
  rm -f "$out"
}

switch_release() {
  mv -T "$stage" "$new"
  stage=""
  ln -sfn "$new" "$CURRENT.next"
  mv -T "$CURRENT.next" "$CURRENT"
  say release "current → $new"
}

start_system() {
  systemctl enable --quiet "$UNIT_NAME"
  if ! booted; then
    say systemd "systemd is not running here: $UNIT_NAME is installed and enabled, not started"
    return 0
  fi
  systemctl daemon-reload
  systemctl restart systemd-journald
  # A stop drains: the stack stops the edge and the producer first, then the consumer, then the servers.
  say systemd "restarting $UNIT_NAME"
  systemctl restart "$UNIT_NAME"
  if ! (cd "$CURRENT" && as_service timeout 600 node --import tsx ops/deploy/server-ready.ts); then
    journalctl -u "$UNIT_NAME" -n 80 --no-pager || true
    die "the system did not become ready (its last log lines are above)"
  fi
}

record() {
  cat >"$DEPLOYED_FILE.next" <<EOF
REVISION=$REVISION
WEB_HASH=$WEB_HASH
NATS_SERVER_VERSION=$NATS_SERVER_VERSION
NATS_CLI_VERSION=$NATS_CLI_VERSION
DEBEZIUM_VERSION=$DEBEZIUM_VERSION
RELEASE=$new
EOF
  mv "$DEPLOYED_FILE.next" "$DEPLOYED_FILE"
  # Keep the current release and two before it (a manual rollback is a symlink and a restart away).
  local keep=0
  # Release folders start with their UTC time, so names sort by age.
  for r in $(find "$RELEASES" -mindepth 1 -maxdepth 1 -type d | sort -r); do
    keep=$((keep + 1))
    [ $keep -le 3 ] || [ "$r" = "$new" ] || rm -rf "$r"
  done
}

stage=""
cleanup() { [ -z "$stage" ] || rm -rf "$stage"; }
trap cleanup EXIT

# Whether a release runs here that a new one must be checked against before it replaces it.
running_release() {
  [ -e "$CURRENT" ] || return 1
  [ "$MODE" = update ] || (booted && systemctl is-active --quiet "$UNIT_NAME")
}

check_host
install_packages
create_user_and_folders
install_tools
install_debezium
install_sink
stage_release
if running_release; then preflight; fi
install_files
firewall
switch_release
start_system
record
say "$MODE" "done: ${REVISION:0:12}"
