#!/usr/bin/env bash
# Makes this machine ready for `npm start` (mode "start") or `npm test` (mode "test").
# Idempotent: every step checks first and does nothing when already done.
#   1. npm dependencies (npm ci when node_modules is missing or older than the lock file),
#      then dist/ (scripts/build.mjs: tsc, only when a source is newer than the last build)
#   2. system packages: nats-server, MariaDB, ping, and for the tests chromium (apt-get when
#      absent and running as root; otherwise stop and say exactly what to install)
#   3. MariaDB reachable on 127.0.0.1:3306 (started when installed but stopped) with the
#      local `bearmon` user (password `bearmon`, rights on databases named bearmon*)
# Nothing here starts a NATS server or touches a database other than creating the user:
# the demo (`bearmon start`) and the tests each start their own nats-server on a free
# loopback port and use databases of their own, and on a host that runs bearmon for real
# `npm start` must not reach the production bus or database.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[bearmon setup] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() { # host port seconds what
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  die "$4 did not start listening on $1:$2 within $3 s"
}
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

# 1. npm dependencies --------------------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
fi
# JavaScript for bin/bearmon (rebuilt only when a source changed): no TypeScript compiled at each start.
node scripts/build.mjs >&2

# 2. system packages ---------------------------------------------------------------------
packages=()
have nats-server || packages+=(nats-server)
have ping || packages+=(iputils-ping)
have ip || packages+=(iproute2)
# The browser tests (test/web/) and bench/web.ts drive Debian's chromium through
# playwright-core; `npm start` does not need it.
if [ "${1:-test}" = test ] && ! have chromium; then packages+=(chromium); fi
if ! port_open 127.0.0.1 3306; then
  have mariadbd || have mysqld || packages+=(mariadb-server)
fi
have mariadb || have mysql || packages+=(mariadb-client)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    say "installing Debian packages: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
  else
    die "missing system packages. Install them with: sudo apt-get install ${packages[*]}"
  fi
fi

# 3. MariaDB -----------------------------------------------------------------------------
if ! port_open 127.0.0.1 3306; then
  say "starting MariaDB"
  [ "$(id -u)" = 0 ] || die "MariaDB is installed but not running on 127.0.0.1:3306; start it (sudo service mariadb start)"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  service mariadb start >&2 2>&1 || true
  if ! port_open 127.0.0.1 3306; then
    daemon=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    [ -x "$daemon" ] || daemon=/usr/sbin/mysqld
    start-stop-daemon --start --oknodo --background --exec "$daemon" -- --user=mysql >&2
  fi
  wait_port 127.0.0.1 3306 60 MariaDB
fi

client=$(command -v mariadb || command -v mysql)
if ! "$client" -h127.0.0.1 -P3306 -ubearmon -pbearmon -e 'SELECT 1' >/dev/null 2>&1; then
  say "creating the local MariaDB user bearmon (rights on databases named bearmon*)"
  grant_sql="CREATE USER IF NOT EXISTS 'bearmon'@'localhost' IDENTIFIED BY 'bearmon';
CREATE USER IF NOT EXISTS 'bearmon'@'127.0.0.1' IDENTIFIED BY 'bearmon';
GRANT ALL PRIVILEGES ON \`bearmon%\`.* TO 'bearmon'@'localhost';
GRANT ALL PRIVILEGES ON \`bearmon%\`.* TO 'bearmon'@'127.0.0.1';"
  # root over TCP with an empty password (this kind of dev machine), else root over the
  # unix socket (Debian's default unix_socket authentication for the OS root user).
  "$client" -h127.0.0.1 -P3306 -uroot -e "$grant_sql" 2>/dev/null ||
    "$client" -uroot -e "$grant_sql" 2>/dev/null ||
    die "cannot create the MariaDB user bearmon; as a MariaDB admin run: $grant_sql"
fi
