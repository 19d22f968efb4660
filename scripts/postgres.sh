#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the shared-catalog tests (tests/scale/conftest.py).
#   scripts/postgres.sh start DIR PORT PASSWORD_FILE   initdb DIR (password auth, user "tierhouse"), serve 127.0.0.1:PORT
#   scripts/postgres.sh stop DIR                       stop it (the caller deletes DIR)
# Installs Debian's postgresql when initdb is missing. PostgreSQL refuses to run as root, so as root
# the cluster belongs to the unprivileged user "nobody".
set -euo pipefail
bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$found" ]; then
    echo "postgres.sh: installing Debian's postgresql ..." >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
cmd=${1:?usage: postgres.sh start DIR PORT PASSWORD_FILE | stop DIR}
dir=${2:?data folder}
bin=$(bindir)
case "$cmd" in
  start)
    port=${3:?port}; pwfile=${4:?password file}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown nobody "$dir" "$pwfile" && chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U tierhouse --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { tail -n 20 "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off" start >/dev/null \
      || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *) echo "postgres.sh: unknown command $cmd" >&2; exit 2 ;;
esac
