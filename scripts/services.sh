# Shell helpers shared by scripts/test.sh and scripts/demo.sh: install a Debian package when its
# command is missing, find a free loopback port, start and stop a private redis-server.
PIDS=()

need_pkg() { # need_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing $1: install the Debian package $2 (as root: apt-get install $2)" >&2
    return 1
  fi
  echo "installing $2 ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null; }
  # Debian starts packaged services on install; ours are private, so stop the system ones.
  (command -v systemctl >/dev/null && systemctl stop "$1" 2>/dev/null) || service "$1" stop >/dev/null 2>&1 || true
}

free_port() { # prints a TCP port nobody listens on at 127.0.0.1
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2; return 1
}

start_redis() { # start_redis DIR: sets REDIS_PORT
  local dir=$1
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --save "" --daemonize no --logfile "$dir/redis.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis-server did not start; its log:" >&2; cat "$dir/redis.log" >&2; return 1
}

stop_services() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
