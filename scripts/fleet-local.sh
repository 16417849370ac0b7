#!/usr/bin/env bash
# The production topology on one machine, as real processes: redis-server, an inference ("GPU") silo
# that loads the model, a CPU silo, one robot agent per arm kind (franka, agibot, openarm, dobot) and
# Prometheus scraping all of them with the alert rules of dashboards/prometheus.
#
#   scripts/fleet-local.sh [start]          build (Release), start everything, print where to look
#   scripts/fleet-local.sh status           what is running
#   scripts/fleet-local.sh stop             stop everything this script started (pids in the run dir)
#   scripts/fleet-local.sh restart NAME     stop NAME if it runs and start it again as it was started (after a crash)
#   scripts/fleet-local.sh prometheus-config  print the Prometheus config it would use
#   scripts/fleet-local.sh listeners        every TCP port its processes listen on; fails on any not on loopback
#
# Settings (environment): A1FLEET_RUN_DIR (artifacts/fleet-local), A1FLEET_MODEL (small-fm),
# A1FLEET_MODELS_DIR (artifacts/models), A1FLEET_NO_BUILD=1 (use the existing Release build),
# ports A1FLEET_REDIS_PORT (16379), A1FLEET_GPU_HTTP_PORT (8080), A1FLEET_CPU_HTTP_PORT (8081),
# A1FLEET_GPU_HTTPS_PORT (8443), A1FLEET_CPU_HTTPS_PORT (8444),
# A1FLEET_GPU_SILO_PORT (11111), A1FLEET_GPU_GATEWAY_PORT (30000), A1FLEET_CPU_SILO_PORT (11112),
# A1FLEET_CPU_GATEWAY_PORT (30001), A1FLEET_GPU_ROBOT_GATEWAY_PORT (8445), A1FLEET_CPU_ROBOT_GATEWAY_PORT (8446),
# A1FLEET_AGENT_METRICS_PORT (9464, then +1 per agent),
# A1FLEET_PROMETHEUS_PORT (9090), A1FLEET_EXECUTION_PROVIDER (cpu; cuda on a GPU build, docs/gpu.md).
# Everything listens on 127.0.0.1 only: Redis, Prometheus and the silos' HTTP, silo and gateway ports
# (A1Fleet:Silo:ListenAddress); `listeners` checks it with ss. The silos also serve HTTPS with a
# self-signed development certificate made with openssl in $A1FLEET_RUN_DIR/tls on first start.
# Redis keeps an append-only file (fsync on every write) in $A1FLEET_RUN_DIR/redis: a restart keeps state.
# Agents reach the fleet through the silos' robot gateways (gRPC, docs/robot-gateway.md), each with its
# robot's credential from A1FLEET_ROBOT_CREDENTIALS_DIR (default RUN_DIR/credentials): one file
# ROBOT-ID.key per agent (franka-01.key, ...), issued with the admin key on first start.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

run_dir="${A1FLEET_RUN_DIR:-$root/artifacts/fleet-local}"
model="${A1FLEET_MODEL:-small-fm}"
models_dir="${A1FLEET_MODELS_DIR:-$root/artifacts/models}"
redis_port="${A1FLEET_REDIS_PORT:-16379}"
gpu_http="${A1FLEET_GPU_HTTP_PORT:-8080}"
cpu_http="${A1FLEET_CPU_HTTP_PORT:-8081}"
gpu_https="${A1FLEET_GPU_HTTPS_PORT:-8443}"
cpu_https="${A1FLEET_CPU_HTTPS_PORT:-8444}"
gpu_silo="${A1FLEET_GPU_SILO_PORT:-11111}"
gpu_gateway="${A1FLEET_GPU_GATEWAY_PORT:-30000}"
cpu_silo="${A1FLEET_CPU_SILO_PORT:-11112}"
cpu_gateway="${A1FLEET_CPU_GATEWAY_PORT:-30001}"
gpu_robot_gateway="${A1FLEET_GPU_ROBOT_GATEWAY_PORT:-8445}"
cpu_robot_gateway="${A1FLEET_CPU_ROBOT_GATEWAY_PORT:-8446}"
credentials_dir="${A1FLEET_ROBOT_CREDENTIALS_DIR:-$run_dir/credentials}"
agent_metrics="${A1FLEET_AGENT_METRICS_PORT:-9464}"
prometheus_port="${A1FLEET_PROMETHEUS_PORT:-9090}"
execution_provider="${A1FLEET_EXECUTION_PROVIDER:-cpu}"
cluster_id="a1fleet-local"
kinds=(franka agibot openarm dobot)
bin="$root/%s/bin/Release/net10.0/%s"

log() { printf '== %s\n' "$*"; }
starting=0
# A failed start stops what it had started, so a retry finds the ports free.
die() {
  printf 'fleet-local: %s\n' "$*" >&2
  if [ "$starting" = 1 ]; then
    starting=0
    cmd_stop
  fi
  exit 1
}

prometheus_config() {
  local agents="" i=0
  for kind in "${kinds[@]}"; do
    agents+="          - 127.0.0.1:$((agent_metrics + i))"$'\n'
    i=$((i + 1))
  done
  cat <<YAML
# Written by scripts/fleet-local.sh: the jobs and rules of dashboards/prometheus, local targets.
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 15s
  external_labels:
    fleet: a1fleet-local

rule_files:
  - $root/dashboards/prometheus/alerts.yml

scrape_configs:
  - job_name: a1fleet-silo
    static_configs:
      - targets: ["127.0.0.1:$gpu_http"]
        labels:
          silo_role: gpu
      - targets: ["127.0.0.1:$cpu_http"]
        labels:
          silo_role: cpu
  - job_name: a1fleet-agent
    static_configs:
      - targets:
${agents%$'\n'}
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$prometheus_port"]
YAML
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start NAME COMMAND...: runs it in the background, output to logs/NAME.log, pid to pids/NAME.pid, and
# the command line to cmds/NAME.cmd (NUL-separated) so that `restart NAME` can run it again as it was.
start() {
  local name="$1"; shift
  if pid_alive "$run_dir/pids/$name.pid"; then
    die "$name is already running (pid $(cat "$run_dir/pids/$name.pid")): scripts/fleet-local.sh stop first"
  fi
  mkdir -p "$run_dir/cmds"
  printf '%s\0' "$@" >"$run_dir/cmds/$name.cmd"
  nohup "$@" >>"$run_dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run_dir/pids/$name.pid"
}

# stop_one NAME: SIGTERM, then SIGKILL after 30 s; forgets the pid.
stop_one() {
  local name="$1" pidfile pid deadline
  pidfile="$run_dir/pids/$name.pid"
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      log "stopped $name (pid $pid, killed after 30 s)"
    else
      log "stopped $name (pid $pid)"
    fi
  fi
  rm -f "$pidfile"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http NAME URL SECONDS: until URL answers 2xx, or fail with the process' log.
wait_http() {
  local name="$1" url="$2" deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if ! pid_alive "$run_dir/pids/$name.pid"; then
      tail -n 40 "$run_dir/logs/$name.log" >&2 || true
      die "$name exited; its log is $run_dir/logs/$name.log"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$name did not answer $url within $3 s; see $run_dir/logs/$name.log"
    sleep 1
  done
}

ensure_tools() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v ss >/dev/null 2>&1 || missing+=(iproute2)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} (Debian packages)"
    local sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

agent_dll() {
  local dll
  for dll in a1-agent.dll A1Fleet.RobotAgent.dll; do
    # shellcheck disable=SC2059
    if [ -f "$(printf "$bin" robot-agent/A1Fleet.RobotAgent "$dll")" ]; then
      # shellcheck disable=SC2059
      printf "$bin" robot-agent/A1Fleet.RobotAgent "$dll"
      return
    fi
  done
  die "the robot agent is not built: run dotnet build -c Release robot-agent/A1Fleet.RobotAgent"
}

# --- operator identity (docs/security.md) ---------------------------------------------------------
# The silos refuse API calls without a key. A random admin key is made once per run dir, readable by
# its owner only, and handed to the silos as a file (not on their command lines, which ps shows);
# they store its hash as the bootstrap admin key the first time they start on an empty Redis.
admin_key_file="$run_dir/admin-key"
# Issues a robot credential through the operator API with the admin key and writes it to FILE (mode 600).
issue_credential() {
  local robot="$1" file="$2" body key
  body=$(curl -fsS -X POST "http://127.0.0.1:$cpu_http/api/robots/$robot/credentials" \
    -H "authorization: Bearer $(cat "$admin_key_file")" -H 'content-type: application/json' -d '{}') \
    || die "could not issue a credential for robot $robot (POST /api/robots/$robot/credentials)"
  key=$(printf '%s' "$body" | sed -n 's/.*"key":"\(a1r_[^"]*\)".*/\1/p')
  [ -n "$key" ] || die "the silo answered no credential for robot $robot: $body"
  (umask 077 && printf '%s\n' "$key" >"$file")
  chmod 600 "$file"
}

ensure_admin_key() {
  [ -s "$admin_key_file" ] && return 0
  local id secret
  id="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  (umask 077 && printf 'a1k_%s_%s\n' "$id" "$secret" >"$admin_key_file")
  chmod 600 "$admin_key_file"
}
# --- end operator identity ---------------------------------------------------------------------------

# A self-signed certificate for 127.0.0.1 and localhost, for the silos' HTTPS endpoints; kept across
# runs until it is within a day of expiring. Clients trust it explicitly: curl --cacert $run_dir/tls/silo.crt.
ensure_dev_certificate() {
  local dir="$run_dir/tls"
  mkdir -p "$dir"
  if [ -f "$dir/silo.key" ] && openssl x509 -checkend 86400 -noout -in "$dir/silo.crt" >/dev/null 2>&1; then
    return
  fi
  log "self-signed development certificate (127.0.0.1, localhost) in $dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=a1fleet-local" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "extendedKeyUsage=serverAuth,clientAuth" \
    -keyout "$dir/silo.key" -out "$dir/silo.crt" >"$run_dir/logs/openssl.log" 2>&1 \
    || die "openssl could not make the development certificate; see $run_dir/logs/openssl.log"
  chmod 600 "$dir/silo.key"
}

cmd_start() {
  mkdir -p "$run_dir/pids" "$run_dir/logs" "$run_dir/redis" "$run_dir/prometheus"
  for port in "$redis_port" "$gpu_http" "$cpu_http" "$gpu_https" "$cpu_https" "$gpu_silo" "$gpu_gateway" "$cpu_silo" "$cpu_gateway" "$prometheus_port" \
              "$gpu_robot_gateway" "$cpu_robot_gateway" \
              "$agent_metrics" $((agent_metrics + 1)) $((agent_metrics + 2)) $((agent_metrics + 3)); do
    port_free "$port" || die "port $port on 127.0.0.1 is taken: stop what uses it or set the A1FLEET_*_PORT variables"
  done
  ensure_tools

  if [ "${A1FLEET_NO_BUILD:-0}" != "1" ]; then
    log "dotnet build -c Release (silo, robot agent, model builder)"
    for project in silo/A1Fleet.Silo robot-agent/A1Fleet.RobotAgent model-builder/A1Fleet.ModelBuilder; do
      dotnet build -c Release "$project" -nologo -clp:ErrorsOnly >/dev/null || die "build of $project failed"
    done
  fi
  local silo_dll builder_dll agent
  # shellcheck disable=SC2059
  silo_dll="$(printf "$bin" silo/A1Fleet.Silo A1Fleet.Silo.dll)"
  # shellcheck disable=SC2059
  builder_dll="$(printf "$bin" model-builder/A1Fleet.ModelBuilder A1Fleet.ModelBuilder.dll)"
  agent="$(agent_dll)"
  [ -f "$silo_dll" ] || die "$silo_dll is missing: build first (without A1FLEET_NO_BUILD)"

  local package="$models_dir/$model"
  # With its calibrated threshold sets, as the demo serves it: a package without them runs every request at
  # full depth. A package built before without sets (no thresholds/ folder) is rebuilt.
  if [ ! -f "$package/model.json" ] || [ ! -d "$package/thresholds" ]; then
    log "building the reference model $model with its calibrated thresholds into $package"
    rm -rf "$package"
    dotnet "$builder_dll" build --preset "$model" --out "$package" --thresholds shipped >"$run_dir/logs/model-builder.log" 2>&1 \
      || die "model build failed; see $run_dir/logs/model-builder.log"
  fi

  ensure_admin_key
  starting=1
  log "redis-server on 127.0.0.1:$redis_port"
  # Safety state (e-stops, leases, tasks, budgets) lives here: every write is in the append-only file
  # before Redis acknowledges it (appendfsync always), and nothing is ever evicted (docs/deployment.md).
  # A restart replays $run_dir/redis/appendonlydir.
  start redis redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$run_dir/redis" --save "" \
    --appendonly yes --appendfsync always --maxmemory-policy noeviction
  local deadline=$((SECONDS + 15))
  until ! port_free "$redis_port"; do
    [ "$SECONDS" -lt "$deadline" ] || die "redis-server did not start; see $run_dir/logs/redis.log"
    sleep 0.2
  done

  ensure_dev_certificate
  local common=(--A1Fleet:Silo:Clustering=redis --A1Fleet:Silo:Storage=redis "--A1Fleet:Silo:Redis=127.0.0.1:$redis_port"
                "--A1Fleet:Silo:ClusterId=$cluster_id" --Logging:LogLevel:Default=Warning
                --A1Fleet:Silo:AdvertisedAddress=127.0.0.1 --A1Fleet:Silo:ListenAddress=127.0.0.1
                "--Kestrel:Certificates:Default:Path=$run_dir/tls/silo.crt" "--Kestrel:Certificates:Default:KeyPath=$run_dir/tls/silo.key"
                "--A1Fleet:RobotGateway:CertificatePath=$run_dir/tls/silo.crt" "--A1Fleet:RobotGateway:CertificateKeyPath=$run_dir/tls/silo.key"
                "--A1Fleet:Security:BootstrapAdminKeyFile=$admin_key_file")
  log "inference silo (model $model, $execution_provider) http://127.0.0.1:$gpu_http https://127.0.0.1:$gpu_https"
  start silo-gpu dotnet "$silo_dll" --urls "http://127.0.0.1:$gpu_http;https://127.0.0.1:$gpu_https" "${common[@]}" \
    "--A1Fleet:Silo:SiloPort=$gpu_silo" "--A1Fleet:Silo:GatewayPort=$gpu_gateway" --A1Fleet:Silo:Gpu=true \
    "--A1Fleet:RobotGateway:Port=$gpu_robot_gateway" \
    "--A1Fleet:Inference:ModelPackages:0=$package" "--A1Fleet:Inference:Engine:ExecutionProvider=$execution_provider"
  log "CPU silo http://127.0.0.1:$cpu_http https://127.0.0.1:$cpu_https"
  start silo-cpu dotnet "$silo_dll" --urls "http://127.0.0.1:$cpu_http;https://127.0.0.1:$cpu_https" "${common[@]}" \
    "--A1Fleet:Silo:SiloPort=$cpu_silo" "--A1Fleet:Silo:GatewayPort=$cpu_gateway" --A1Fleet:Silo:Gpu=false \
    "--A1Fleet:RobotGateway:Port=$cpu_robot_gateway"
  wait_http silo-gpu "http://127.0.0.1:$gpu_http/health/ready" 300
  wait_http silo-cpu "http://127.0.0.1:$cpu_http/health/ready" 120

  # Each agent presents its robot's credential, issued once per robot with the admin key (as an operator
  # would: a1ctl issue-credential) and kept in $credentials_dir/ROBOT-ID.key (mode 600); a file already
  # there is used as it is. Agents alternate between the two silos' robot gateways.
  local i=0 gateway credential
  mkdir -p "$credentials_dir"
  for kind in "${kinds[@]}"; do
    credential="$credentials_dir/$kind-01.key"
    [ -s "$credential" ] || issue_credential "$kind-01" "$credential"
    gateway=$([ $((i % 2)) = 0 ] && echo "$cpu_robot_gateway" || echo "$gpu_robot_gateway")
    log "agent $kind-01 via robot gateway https://127.0.0.1:$gateway (metrics http://127.0.0.1:$((agent_metrics + i))/metrics)"
    start "agent-$kind" dotnet "$agent" --gateway "https://127.0.0.1:$gateway" --gateway-ca "$run_dir/tls/silo.crt" --credential-file "$credential" \
      --robot-id "$kind-01" --embodiment "$kind" --model "$model" --metrics-port "$((agent_metrics + i))" --status-interval 0 \
      --tags "local,cell-$((i % 2 + 1))"
    i=$((i + 1))
  done

  prometheus_config >"$run_dir/prometheus/prometheus.yml"
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "$run_dir/prometheus/prometheus.yml" >/dev/null || die "generated Prometheus config is invalid"
  fi
  log "Prometheus http://127.0.0.1:$prometheus_port"
  start prometheus prometheus --config.file="$run_dir/prometheus/prometheus.yml" \
    --storage.tsdb.path="$run_dir/prometheus/data" --web.listen-address="127.0.0.1:$prometheus_port"
  wait_http prometheus "http://127.0.0.1:$prometheus_port/-/ready" 60
  starting=0

  cat <<INFO

A1Fleet is running (run dir $run_dir, logs in $run_dir/logs):
  operator API    http://127.0.0.1:$cpu_http/api/robots   (any silo; OpenAPI at /openapi/v1.json; needs a key)
  over HTTPS      curl --cacert $run_dir/tls/silo.crt -H "authorization: Bearer \$A1FLEET_API_KEY" https://127.0.0.1:$cpu_https/api/robots
  admin key       $admin_key_file   (mode 600; docs/security.md)
  a1ctl           export A1FLEET_API_KEY=\$(cat $admin_key_file) A1FLEET_URL=http://127.0.0.1:$cpu_http
                  dotnet run --project operator-cli/A1Fleet.Operator -- robots
  assign a task   curl -X POST http://127.0.0.1:$cpu_http/api/assignments -H "authorization: Bearer \$A1FLEET_API_KEY" \\
                    -H 'content-type: application/json' -d '{"selector":"all","instruction":"pick up the red block"}'
  silo metrics    http://127.0.0.1:$gpu_http/metrics   http://127.0.0.1:$cpu_http/metrics
  robot gateways  https://127.0.0.1:$cpu_robot_gateway   https://127.0.0.1:$gpu_robot_gateway   (gRPC over TLS, the certificate above; credentials in $credentials_dir)
  agent metrics   http://127.0.0.1:$agent_metrics/metrics ... :$((agent_metrics + 3))
  Prometheus      http://127.0.0.1:$prometheus_port   (targets: /targets)
  Grafana         import dashboards/*.json into a Grafana pointed at that Prometheus (docs/dashboards.md)
  listeners       scripts/fleet-local.sh listeners   (every port, checked to be on loopback)
  restart one     scripts/fleet-local.sh restart NAME   (NAME from status, e.g. silo-cpu, agent-franka)
  tags            every agent has tag local and cell-1 or cell-2 (selectors tag:local, tag:cell-1)
  stop            scripts/fleet-local.sh stop
INFO
}

cmd_stop() {
  [ -d "$run_dir/pids" ] || { log "nothing to stop ($run_dir/pids does not exist)"; return 0; }
  local name
  # Agents first, then silos (graceful Orleans shutdown), then Redis and Prometheus.
  for name in agent-franka agent-agibot agent-openarm agent-dobot silo-cpu silo-gpu prometheus redis; do
    stop_one "$name"
  done
}

# restart NAME: stops NAME if it still runs (a crashed one is just started) and starts it again with the
# command line it was started with; the rest of the fleet keeps running.
cmd_restart() {
  local name="${1:-}" cmdfile args=()
  [ -n "$name" ] || die "restart needs a NAME: one of $(ls "$run_dir/cmds" 2>/dev/null | sed 's/\.cmd$//' | tr '\n' ' ')"
  cmdfile="$run_dir/cmds/$name.cmd"
  [ -f "$cmdfile" ] || die "no process named '$name' was started from $run_dir; names: $(ls "$run_dir/cmds" 2>/dev/null | sed 's/\.cmd$//' | tr '\n' ' ')"
  mapfile -d '' args <"$cmdfile"
  mkdir -p "$run_dir/pids" "$run_dir/logs"
  stop_one "$name"
  log "restarting $name"
  start "$name" "${args[@]}"
  log "$name running again (pid $(cat "$run_dir/pids/$name.pid")); log $run_dir/logs/$name.log"
}

cmd_status() {
  local pidfile any=0
  for pidfile in "$run_dir"/pids/*.pid; do
    [ -f "$pidfile" ] || continue
    any=1
    if pid_alive "$pidfile"; then
      printf '%-16s running (pid %s)\n' "$(basename "$pidfile" .pid)" "$(cat "$pidfile")"
    else
      printf '%-16s exited\n' "$(basename "$pidfile" .pid)"
    fi
  done
  [ "$any" = 1 ] || echo "nothing started (run dir $run_dir)"
}

# Every TCP socket the processes started here listen on, from ss; fails on any not on loopback.
cmd_listeners() {
  command -v ss >/dev/null 2>&1 || die "ss (Debian package iproute2) is needed for listeners"
  local pidfile pid addr bad=0 any=0
  for pidfile in "$run_dir"/pids/*.pid; do
    pid_alive "$pidfile" || continue
    pid="$(cat "$pidfile")"
    while read -r addr; do
      any=1
      case "$addr" in
        127.0.0.1:*|"[::1]:"*) printf '%-16s %s\n' "$(basename "$pidfile" .pid)" "$addr" ;;
        *) printf '%-16s %s   NOT LOOPBACK\n' "$(basename "$pidfile" .pid)" "$addr"; bad=1 ;;
      esac
    done < <(ss -ltnpH | awk -v p="pid=$pid," 'index($0, p) { print $4 }')
  done
  [ "$any" = 1 ] || { echo "no listeners (nothing running from $run_dir)"; return 0; }
  [ "$bad" = 0 ] || die "some listeners are reachable beyond this machine's loopback (above)"
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  prometheus-config) prometheus_config ;;
  listeners) cmd_listeners ;;
  restart) cmd_restart "${2:-}" ;;
  *) die "unknown command '$1': use start, status, stop, restart NAME, listeners or prometheus-config" ;;
esac
