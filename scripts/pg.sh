#!/usr/bin/env bash
# A private PostgreSQL cluster under the working tree, reachable only through
# a Unix socket in its own directory.
#
#   scripts/pg.sh start DIR    initdb if needed, start; prints the env to use
#   scripts/pg.sh stop DIR
#   scripts/pg.sh env DIR      prints PGHOST/PGPORT/PGUSER exports
#   scripts/pg.sh login NAME GROUP
#                              creates login role NAME in group role GROUP
#                              (camledger_server, camledger_indexer) unless it
#                              exists, in the cluster the libpq environment
#                              points at
#
# initdb refuses to run as root: as root the cluster runs as 'postgres'.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|env DIR | login NAME GROUP}
if [ "$cmd" = login ]; then
    name=${2:?usage: pg.sh login NAME GROUP} group=${3:?usage: pg.sh login NAME GROUP}
    psql -XAtq -v ON_ERROR_STOP=1 -v name="$name" -v group="$group" >/dev/null <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') AS missing \gset
\if :missing
CREATE ROLE :"name" LOGIN IN ROLE :"group";
\endif
SQL
    exit
fi
dir=$(realpath -m "${2:?usage: pg.sh start|stop|env DIR}")
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin
data=$dir/data
sock=$dir/sock
port=${CL_PGPORT:-5432}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
superuser() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

case $cmd in
env)
    echo "export PGHOST=$sock PGPORT=$port PGUSER=$(superuser) PGDATABASE=postgres"
    ;;
start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    if [ ! -s "$data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$data" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
            --username="$(superuser)" >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner mkdir -p "$sock"
    if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
            -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c port=$port \
                -c unix_socket_permissions=0700 -c fsync=${CL_PG_FSYNC:-on} \
                -c max_connections=200 -c shared_buffers=256MB" >/dev/null ||
            { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    echo "export PGHOST=$sock PGPORT=$port PGUSER=$(superuser) PGDATABASE=postgres"
    ;;
stop)
    if [ -s "$data/PG_VERSION" ]; then
        as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: pg.sh start|stop|env DIR | login NAME GROUP" >&2
    exit 2
    ;;
esac
