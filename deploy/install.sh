#!/usr/bin/env bash
# Installs inspectd as a systemd service, and the `inspectd` command in /usr/local/bin. Idempotent: run it
# again to upgrade in place. A first install gets /etc/inspectd/config.yaml from deploy/config.default.yaml:
# the demo (synthetic line, bundled demo model, embedded MQTT broker), which runs without any camera.
# Apache-2.0, see LICENSE.
#
#   sudo deploy/install.sh                 # install from this checkout (built: npm ci && npm run build:ts)
#   deploy/install.sh --dry-run            # print what would be done, change nothing
#   deploy/install.sh --prefix /tmp/stage  # install under a staging root (no user, no systemctl)
#
# Options:
#   --prefix DIR   root to install under (default /); with a prefix, user creation and systemctl are skipped
#   --source DIR   package directory to copy (default: the folder above this script)
#   --dry-run      print the commands instead of running them
#   --no-npm       do not run npm ci in the installed copy (offline box with node_modules copied along)
#   --no-enable    do not enable the service
set -euo pipefail

PREFIX=""
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
RUN_NPM=1
ENABLE=1

# The comment block above, up to the first line of code.
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --source) SOURCE="${2:?--source needs a directory}"; shift 2 ;;
    --source=*) SOURCE="${1#*=}"; shift ;;
    --dry-run|-n) DRY_RUN=1; shift ;;
    --no-npm) RUN_NPM=0; shift ;;
    --no-enable) ENABLE=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PREFIX="${PREFIX%/}"

APP_DIR="$PREFIX/opt/inspectd"
BIN_DIR="$PREFIX/usr/local/bin"
UNIT_DIR="$PREFIX/etc/systemd/system"
CONF_DIR="$PREFIX/etc/inspectd"
STATE_DIR="$PREFIX/var/lib/inspectd"
SERVICE_USER="inspectd"

log() { printf 'install.sh: %s\n' "$*"; }
run() {
  if [[ $DRY_RUN -eq 1 ]]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

[[ -f "$SOURCE/package.json" ]] || { echo "install.sh: no package.json in $SOURCE (use --source)" >&2; exit 1; }
if [[ ! -f "$SOURCE/dist/src/main.js" ]]; then
  echo "install.sh: $SOURCE/dist/src/main.js is missing; build first: (cd $SOURCE && npm ci && npm run build:ts)" >&2
  exit 1
fi
NODE_BIN="$(command -v node || true)"
[[ -n "$NODE_BIN" ]] || { echo "install.sh: node not found on PATH; install Node.js 20 or later" >&2; exit 1; }

SYSTEM_INSTALL=0
[[ -z "$PREFIX" ]] && SYSTEM_INSTALL=1
if [[ $SYSTEM_INSTALL -eq 1 && $DRY_RUN -eq 0 && $(id -u) -ne 0 ]]; then
  echo "install.sh: installing to / needs root (sudo), or use --prefix DIR / --dry-run" >&2
  exit 1
fi

# 1. Service user (system account, no login, in group video for cameras).
if [[ $SYSTEM_INSTALL -eq 1 ]]; then
  if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    log "user $SERVICE_USER exists"
  else
    run useradd --system --user-group --no-create-home --home-dir /var/lib/inspectd --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  if getent group video >/dev/null 2>&1; then run usermod -a -G video "$SERVICE_USER"; fi
else
  log "prefix install: skipping user creation"
fi

# 2. Package files into /opt/inspectd (replaced as a whole, so removed files do not linger).
run mkdir -p "$APP_DIR"
for item in package.json package-lock.json .npmrc README.md LICENSE binding.gyp dist native models deploy schema; do
  if [[ -e "$SOURCE/$item" ]]; then
    run rm -rf "${APP_DIR:?}/$item"
    run cp -a "$SOURCE/$item" "$APP_DIR/$item"
  fi
done
run rm -rf "$APP_DIR/dist/test" "$APP_DIR/dist/bench"
if [[ $RUN_NPM -eq 1 ]]; then
  # Runtime dependencies only, without lifecycle scripts: `prepare` would need TypeScript (dist/ is already
  # built) and no dependency's script is needed offline. Then the native addon, built for this box through
  # npm so npm's config (e.g. nodedir for the Node headers) applies: needs python3, make and g++; TensorRT
  # is picked up when its headers are installed.
  run bash -c "cd '$APP_DIR' && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm run build:native"
else
  log "--no-npm: not running npm ci in $APP_DIR"
fi

# 3. Unit file, with the node found on this machine.
run mkdir -p "$UNIT_DIR"
if [[ $DRY_RUN -eq 1 ]]; then
  printf '+ install unit %s (ExecStart node: %s)\n' "$UNIT_DIR/inspectd.service" "$NODE_BIN"
else
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE_BIN #" "$SOURCE/deploy/inspectd.service" >"$UNIT_DIR/inspectd.service.tmp"
  chmod 0644 "$UNIT_DIR/inspectd.service.tmp"
  mv "$UNIT_DIR/inspectd.service.tmp" "$UNIT_DIR/inspectd.service"
fi

# 4. The inspectd command: a wrapper that runs the installed package with the node the unit uses. It finds
# the package relative to itself (bin -> ../../../opt/inspectd), so a staged tree works where it lies too.
# A file there that this script did not write (e.g. from `npm link`) is left alone.
BIN_MARK="# inspectd command, written by deploy/install.sh; it rewrites it on upgrade."
run mkdir -p "$BIN_DIR"
if [[ -e "$BIN_DIR/inspectd" || -L "$BIN_DIR/inspectd" ]] && ! grep -qxF "$BIN_MARK" "$BIN_DIR/inspectd" 2>/dev/null; then
  log "keeping $BIN_DIR/inspectd: install.sh did not write it (remove it and run install.sh again for the installed command)"
elif [[ $DRY_RUN -eq 1 ]]; then
  printf '+ install command %s (node: %s)\n' "$BIN_DIR/inspectd" "$NODE_BIN"
else
  printf '#!/bin/sh\n%s\nhere=$(dirname "$(readlink -f "$0")")\nexec %s "$here/../../../opt/inspectd/dist/src/main.js" "$@"\n' \
    "$BIN_MARK" "'$NODE_BIN'" >"$BIN_DIR/inspectd.tmp"
  chmod 0755 "$BIN_DIR/inspectd.tmp"
  mv "$BIN_DIR/inspectd.tmp" "$BIN_DIR/inspectd"
fi

# 5. Config: only when none is there (never overwrite an operator's edits).
run mkdir -p "$CONF_DIR"
FRESH_CONFIG=0
if [[ -e "$CONF_DIR/config.yaml" ]]; then
  log "keeping existing $CONF_DIR/config.yaml"
else
  run install -m 0644 "$SOURCE/deploy/config.default.yaml" "$CONF_DIR/config.yaml"
  FRESH_CONFIG=1
fi
run mkdir -p "$STATE_DIR"

# 6. systemd.
if [[ $SYSTEM_INSTALL -eq 1 ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  run systemctl daemon-reload
  if [[ $ENABLE -eq 1 ]]; then run systemctl enable inspectd.service; fi
  log "installed"
else
  log "installed under ${PREFIX:-/} (systemctl skipped)"
fi

# 7. What to do next (paths as on the target box).
if [[ $FRESH_CONFIG -eq 1 ]]; then
  cat <<'EOF'

First run: /etc/inspectd/config.yaml runs the demo, no camera needed: the synthetic line through the
bundled demo model, results on an embedded MQTT broker at 127.0.0.1:1883.
  start:      sudo systemctl start inspectd && journalctl -u inspectd -f
  watch:      mosquitto_sub -h 127.0.0.1 -p 1883 -t 'inspectd/#' -v
  your line:  edit /etc/inspectd/config.yaml (camera examples are commented there), then
              inspectd check-config /etc/inspectd/config.yaml && sudo systemctl reload inspectd
EOF
else
  cat <<'EOF'

Upgraded; /etc/inspectd/config.yaml is unchanged. Restart to run the new version:
  inspectd check-config /etc/inspectd/config.yaml && sudo systemctl restart inspectd
EOF
fi
