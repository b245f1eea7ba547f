#!/usr/bin/env bash
# The worker deployment's services on one host: Redis (Celery's broker and results) and a Postgres cluster with a
# `dagster` database (the Dagster instance), their data, logs and pid files outside the checkout, and a
# DAGSTER_HOME beside them holding this folder's dagster.yaml (docs/guide/workers.md).
#
#   deploy/workers/services.sh start     # idempotent: starts what is not running, creates what does not exist
#   eval "$(deploy/workers/services.sh env)"   # the variables every host, worker and orchestrating process needs
#   deploy/workers/services.sh status
#   deploy/workers/services.sh stop
#
# State: ${LLMHNI_STATE_DIR:-~/.local/state/llmhni}/{redis,postgres,dagster} (as root the cluster is in
# /var/lib/postgresql/llmhni, which the postgres user can enter; LLMHNI_PG_DIR elsewhere) (the workers' logs too, in the
# guide's commands). The lake: LLMHNI_LAKE_DIR, else the repository's data_lake. Ports: LLMHNI_REDIS_PORT (6379),
# LLMHNI_PG_PORT (5432), on 127.0.0.1 (a cluster listens on its network address instead: see the guide). Needs
# Debian's redis-server and postgresql-15; as root, Postgres runs as the postgres user.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${LLMHNI_STATE_DIR:-$HOME/.local/state/llmhni}
# the Postgres cluster beside the rest, except as root: Postgres runs as the postgres user, which cannot enter
# root's home, so the cluster goes where Debian keeps clusters (LLMHNI_PG_DIR chooses another place)
if [ "$(id -u)" = 0 ]; then pg_dir=${LLMHNI_PG_DIR:-/var/lib/postgresql/llmhni}; else pg_dir=${LLMHNI_PG_DIR:-$state/postgres}; fi
redis_port=${LLMHNI_REDIS_PORT:-6379}
pg_port=${LLMHNI_PG_PORT:-5432}
# the lake: the repository's own by default (one host; what `llmhni fetch embedded` filled), a shared mount or an
# s3:// URL for several hosts (set LLMHNI_LAKE_DIR before `env`)
lake=${LLMHNI_LAKE_DIR:-$(cd "$here/../.." && pwd)/data_lake}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

need() {
    command -v "$1" >/dev/null || { echo "services.sh: $1 not found: $2" >&2; exit 2; }
}

pg_bin() {
    need pg_config "apt-get install -y postgresql-15"
    echo "$(pg_config --bindir)/$1"
}

redis_up() { [ -f "$state/redis/redis.pid" ] && kill -0 "$(cat "$state/redis/redis.pid")" 2>/dev/null; }
pg_up() { as_postgres "$(pg_bin pg_ctl)" -D "$pg_dir/data" status >/dev/null 2>&1; }

start() {
    need redis-server "apt-get install -y redis-server"
    mkdir -p "$state/redis" "$state/dagster"
    if redis_up; then
        echo "redis: already running (pid $(cat "$state/redis/redis.pid"))"
    else
        redis-server --bind 127.0.0.1 --port "$redis_port" --appendonly yes --dir "$state/redis" \
            --pidfile "$state/redis/redis.pid" --logfile "$state/redis/redis.log" --daemonize yes
        for _ in $(seq 50); do redis_up && break; sleep 0.1; done
        redis_up || { echo "redis did not start: see $state/redis/redis.log" >&2; exit 1; }
        echo "redis: started on 127.0.0.1:$redis_port (data, pid and log in $state/redis)"
    fi
    mkdir -p "$pg_dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$pg_dir"; fi
    if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
        as_postgres "$(pg_bin initdb)" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
        echo "postgres: cluster created in $pg_dir/data"
    fi
    if pg_up; then
        echo "postgres: already running"
    else
        as_postgres "$(pg_bin pg_ctl)" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
            -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" start >/dev/null
        echo "postgres: started on 127.0.0.1:$pg_port (log in $pg_dir/postgres.log)"
    fi
    if ! as_postgres "$(pg_bin psql)" -h 127.0.0.1 -p "$pg_port" -U postgres -Atc \
        "select 1 from pg_database where datname = 'dagster'" | grep -q 1; then
        as_postgres "$(pg_bin createdb)" -h 127.0.0.1 -p "$pg_port" -U postgres dagster
        echo "postgres: database dagster created"
    fi
    cp "$here/dagster.yaml" "$state/dagster/dagster.yaml"
    echo "the instance: DAGSTER_HOME=$state/dagster. Next, in every shell that runs a worker or a run:"
    echo "  eval \"\$($0 env)\""
}

env_lines() {
    echo "export DAGSTER_HOME=$state/dagster LLMHNI_EXECUTOR=celery"
    echo "export LLMHNI_POSTGRES_URL=postgresql+psycopg2://postgres@127.0.0.1:$pg_port/dagster"
    echo "export LLMHNI_CELERY_BROKER=redis://127.0.0.1:$redis_port/0 LLMHNI_LAKE_DIR=$lake"
}

stop() {
    if redis_up; then
        kill "$(cat "$state/redis/redis.pid")"
        for _ in $(seq 100); do redis_up || break; sleep 0.1; done
        echo "redis: stopped"
    fi
    if [ -f "$pg_dir/data/PG_VERSION" ] && pg_up; then
        as_postgres "$(pg_bin pg_ctl)" -D "$pg_dir/data" -m fast -w stop >/dev/null
        echo "postgres: stopped"
    fi
}

status() {
    redis_up && echo "redis: running (pid $(cat "$state/redis/redis.pid"))" || echo "redis: stopped"
    [ -f "$pg_dir/data/PG_VERSION" ] && pg_up && echo "postgres: running" || echo "postgres: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) env_lines ;;
    status) status ;;
    *) echo "usage: $0 start|env|status|stop" >&2; exit 2 ;;
esac
