# Shared by the hub bench scripts (sourced after lib.sh): a hub on a free loopback port with a
# runner token, and a pull runner on it.
mkdir -p "$work/hub/queue" "$work/hub/done"
"$bin" hub token add bench --role runner --tokens "$work/hub/tokens.json" >"$work/runner.token"
chmod 600 "$work/runner.token"
hub_pid=
pull_pid=
trap '[ -z "$runner" ] || kill "$runner" 2>/dev/null || true; [ -z "$hub_pid" ] || kill "$hub_pid" 2>/dev/null || true;
      [ -z "$pull_pid" ] || kill "$pull_pid" 2>/dev/null || true; [ -z "${local_runner:-}" ] || kill "$local_runner" 2>/dev/null || true;
      wait 2>/dev/null || true; rm -rf "$work"' EXIT

# Starts the hub with lease LEASE (and any further hub serve options) and sets $hub_url once it listens.
start_hub() {
    "$bin" hub serve --listen 127.0.0.1:0 --queue "$work/hub/queue" --done "$work/hub/done" --tokens "$work/hub/tokens.json" \
        --lease "$1" "${@:2}" >"$work/hub.log" 2>&1 &
    hub_pid=$!
    for _ in $(seq 1200); do   # up to 2 min: a hub with --images hashes them first
        hub_url=$(grep -o 'hub listening at http://127.0.0.1:[0-9]*' "$work/hub.log" 2>/dev/null | head -1 | sed 's/hub listening at //') || true
        [ -n "$hub_url" ] && return 0
        sleep 0.1
    done
    echo "the hub did not start: $(cat "$work/hub.log")" >&2
    exit 1
}

# Starts a pull runner (one slot) on $hub_url with its state in $work/pull-state.
start_pull_runner() {
    "$bin" run --hub "$hub_url" --token-file "$work/runner.token" --state "$work/pull-state" --memory 512M --slots 1 \
        >"$work/pull.log" 2>&1 &
    pull_pid=$!
}
