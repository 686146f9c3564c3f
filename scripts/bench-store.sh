#!/bin/bash
# bench-store.sh BIN OUTDIR [FILE] — whole-command speed of the store: add -n (hash only,
# the ceiling), add (copy into segments), add --link (no copy), cat (verified) and a get
# daemon→daemon, with real daemons on 127.0.0.1. With KUBO_BIN set (a kubo `ipfs` binary)
# each round also runs kubo's add -n, add, add --nocopy (filestore), cat and a get
# daemon→daemon on the same file,
# alternating with dhtnode, so that both see the same machine load; without it kubo is
# skipped. The targets are ratios within one run (the machine is shared and noisy):
#   add ≥ 0.45 × add -n, add --link ≥ 0.8 × add -n, cat ≥ 0.5 × add -n.
# Each round also times dd writing the file with fdatasync into OUTDIR ("disk write"):
# a durable add cannot beat the disk, so add is also shown as a multiple of that.
#
# FILE (default: a 256 MiB random file made in OUTDIR) is read once into the page cache.
# ROUNDS (default 3) rounds; each removes what it added (unpin + repo gc, untimed) so that
# every add writes all its pieces. OUTDIR must not exist; the script removes nothing else.
# Prints one line per command and round, then a markdown table of the medians.
set -u
BIN=$1; W=$2; F=${3:-}; ROUNDS=${ROUNDS:-3}
[ -e "$W" ] && { echo "$W exists: give a fresh directory" >&2; exit 1; }
mkdir -p "$W"
if [ -z "$F" ]; then F=$W/f256; head -c 268435456 /dev/urandom > "$F"; fi
SIZE=$(stat -c %s "$F")
cat "$F" > /dev/null
pids=()
start() { local i=$1; shift
	DHTNODE_PATH=$W/n$i $BIN daemon --api 127.0.0.1:$((58600+i)) --gossip 127.0.0.1:$((58700+i)) \
		--listen /ip4/127.0.0.1/tcp/$((58800+i)) --log-level warn "$@" >"$W/n$i.log" 2>&1 &
	pids[$i]=$!
	for _ in $(seq 100); do c "$i" id >/dev/null 2>&1 && break; sleep 0.1; done; }
c() { local i=$1; shift; DHTNODE_PATH=$W/n$i $BIN --api 127.0.0.1:$((58600+i)) "$@"; }
addr() { echo "/ip4/127.0.0.1/tcp/$((58800+$1))/p2p/$(c "$1" id --format json | python3 -c 'import json,sys;print(json.load(sys.stdin)["peer_id"])')"; }
now() { date +%s.%N; }
declare -A T # T[name]="t1 t2 ..." seconds per round
timeit() { local name=$1; shift; local s e; s=$(now); "$@" >/dev/null || echo "FAIL $name" >&2; e=$(now)
	local d; d=$(python3 -c "print('%.4f' % ($e-$s))"); T[$name]="${T[$name]:-} $d"
	python3 -c "print('%-18s %6.0f MB/s (%.3f s)' % ('$name', $SIZE/$d/1e6, $d))"; }

start 0; start 1
# A third daemon with content.no_sync (acknowledges pieces still in the page cache):
# what add costs when the disk is not waited for. Not the default, shown apart.
DHTNODE_PATH=$W/n2 $BIN init >/dev/null
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["content"]["no_sync"]=True; json.dump(d,open(p,"w"))' "$W/n2/config.json"
start 2
from=(--from "$(addr 0)")
KUBO=${KUBO_BIN:-}
if [ -n "$KUBO" ]; then
	export IPFS_PATH=$W/kubo
	$KUBO init --profile test >/dev/null
	$KUBO config --json Experimental.FilestoreEnabled true
	# A second kubo daemon fetches from the first, as dhtnode's get does. The test
	# profile binds both to 127.0.0.1 with no bootstrap peers: they only see each other.
	IPFS_PATH=$W/kubo2 $KUBO init --profile test >/dev/null
	kpids=()
	for k in kubo kubo2; do
		IPFS_PATH=$W/$k $KUBO daemon >"$W/$k.log" 2>&1 &
		kpids+=($!)
	done
	# Wait for each daemon's own word: `ipfs id` run before the daemon holds the repo
	# lock would take the lock itself (kubo runs commands in-process when no daemon
	# is up), the daemon would exit and every kubo command would run without it.
	for k in kubo kubo2; do
		for _ in $(seq 150); do grep -q "Daemon is ready" "$W/$k.log" && break; sleep 0.2; done
		grep -q "Daemon is ready" "$W/$k.log" ||
			{ echo "kubo daemon did not start: see $W/$k.log" >&2; kill "${pids[@]}" "${kpids[@]}"; exit 1; }
	done
	kaddr=$($KUBO id -f='<addrs>' | grep -m1 '/ip4/127.0.0.1/tcp/')
	KF=$W/kubo-file
	ln "$F" "$KF" 2>/dev/null || cp "$F" "$KF"
fi
# cat into /dev/null or a file hands the output to the daemon; into a pipe it streams.
catpipe() { c 0 cat "$1" | cat; }
kubo_quiet() { "$KUBO" "$@" 2>/dev/null; } # kubo cat draws a progress bar on stderr
kubo2_quiet() { IPFS_PATH=$W/kubo2 "$KUBO" "$@" 2>/dev/null; }
echo "file $F ($SIZE bytes), $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	echo "-- round $r"
	timeit "add -n" c 0 add -q -n "$F"
	id=$(c 0 add -q -n "$F")
	timeit "add" c 0 add -q "$F"
	timeit "add (no_sync)" c 2 add -q "$F"
	c 2 pin rm "$id" >/dev/null; c 2 repo gc >/dev/null
	# The disk's ceiling for a durable add: the same bytes written to the same file
	# system and fdatasynced (an add acknowledges only what survives a power cut).
	timeit "disk write" dd if="$F" of="$W/dd.out" bs=1M conv=fdatasync status=none
	rm -f "$W/dd.out"
	timeit "cat" c 0 cat "$id"
	timeit "cat (pipe)" catpipe "$id"
	timeit "get" c 1 get -q "$id" -o "$W/out" "${from[@]}"
	cmp -s "$W/out" "$F" || echo MISMATCH; rm -f "$W/out"
	c 1 pin rm "$id" >/dev/null; c 1 repo gc >/dev/null
	c 0 pin rm "$id" >/dev/null; c 0 repo gc >/dev/null
	timeit "add --link" c 0 add -q --link "$F"
	timeit "cat (linked)" c 0 cat "$id"
	c 0 pin rm "$id" >/dev/null; c 0 repo gc >/dev/null
	if [ -n "$KUBO" ]; then
		timeit "kubo add -n" $KUBO add -q -n "$F"
		kid=$($KUBO add -q -n "$F")
		timeit "kubo add" $KUBO add -q "$F"
		timeit "kubo cat" kubo_quiet cat "$kid"
		IPFS_PATH=$W/kubo2 $KUBO swarm connect "$kaddr" >/dev/null
		timeit "kubo get" kubo2_quiet get -o "$W/kout" "$kid"
		cmp -s "$W/kout" "$F" || echo "MISMATCH kubo get"; rm -rf "$W/kout"
		IPFS_PATH=$W/kubo2 $KUBO repo gc >/dev/null
		$KUBO pin rm "$kid" >/dev/null; $KUBO repo gc >/dev/null
		# --nocopy makes raw leaves, hence another CID; and the filestore takes only
		# files under the repo's parent directory (OUTDIR), so it adds a link there.
		nid=$($KUBO add -q -n --nocopy "$KF")
		timeit "kubo add --nocopy" $KUBO add -q --nocopy "$KF"
		$KUBO pin rm "$nid" >/dev/null; $KUBO repo gc >/dev/null
	fi
done
echo "load end: $(cut -d' ' -f1-3 /proc/loadavg)"
kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null
[ -n "$KUBO" ] && { kill "${kpids[@]}"; wait "${kpids[@]}" 2>/dev/null; }
# Medians, and each command's rate as a multiple of dhtnode's add -n in the same run.
for k in "${!T[@]}"; do echo "$k|${T[$k]}"; done | python3 -c '
import sys, statistics
size = '"$SIZE"'
rows = {}
for line in sys.stdin:
    k, v = line.rstrip("\n").split("|")
    rows[k] = statistics.median(float(x) for x in v.split())
base = rows.get("add -n")
order = ["add -n", "disk write", "add", "add (no_sync)", "add --link", "cat", "cat (pipe)", "cat (linked)", "get", "kubo add -n", "kubo add", "kubo add --nocopy", "kubo cat", "kubo get"]
print("| command | MB/s (median) | × dhtnode add -n |")
print("|---|---|---|")
for k in order:
    if k in rows:
        print("| %s | %.0f | %.2f |" % (k, size / rows[k] / 1e6, base / rows[k] if base else 0))
print()
for a, b in [("add", "disk write"), ("add", "kubo add"), ("add --link", "kubo add --nocopy"), ("cat", "kubo cat"), ("cat (pipe)", "kubo cat"), ("get", "kubo get")]:
    if a in rows and b in rows:
        print("%s / %s: %.2f ×" % (a, b, rows[b] / rows[a]))
'
