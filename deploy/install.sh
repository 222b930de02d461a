#!/usr/bin/env bash
# Installs inspectd as a systemd service. Idempotent: run it again to upgrade in place.
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

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

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

# 4. Config: only when none is there (never overwrite an operator's edits).
run mkdir -p "$CONF_DIR"
if [[ -e "$CONF_DIR/config.yaml" ]]; then
  log "keeping existing $CONF_DIR/config.yaml"
elif [[ -f "$SOURCE/deploy/config.example.yaml" ]]; then
  run install -m 0644 "$SOURCE/deploy/config.example.yaml" "$CONF_DIR/config.yaml"
else
  log "no deploy/config.example.yaml in the package; the daemon runs on its embedded defaults"
fi
run mkdir -p "$STATE_DIR"

# 5. systemd.
if [[ $SYSTEM_INSTALL -eq 1 ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  run systemctl daemon-reload
  if [[ $ENABLE -eq 1 ]]; then run systemctl enable inspectd.service; fi
  log "installed; start it with: systemctl start inspectd && journalctl -u inspectd -f"
else
  log "installed under ${PREFIX:-/} (systemctl skipped)"
fi
