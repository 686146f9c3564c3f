#!/bin/bash
# bench-content.sh BIN OUTDIR [DATADIR] — whole-command speed of add, cat and get (issue #3)
# with real daemons on 127.0.0.1, as the README's "Content and transfer" table reports it.
#
# Per command it prints the wall-clock rate, the load average, and the CPU time (user+system,
# from /proc/PID/stat, 10 ms resolution) that the command cost each daemon. On a shared
# machine wall clock is noise; CPU-seconds per operation is the signal for whether a change
# helps.
#   add256   `dhtnode add` of three distinct 256 MiB files from the page cache
#   cat256   `dhtnode cat` of each, verifying every piece (first cat after add, then repeated)
#   get1g    `dhtnode get` of 1 GiB from 1 seeder and from 4 (each to a fresh daemon), twice
#   get1g via DHT  a plain `dhtnode get ID`, as users run it: the providers come from the DHT
#            with both their TCP and QUIC addresses (the runs above name TCP ones with --from)
#   add2g / get2g  2 GiB, with each daemon's peak RSS (VmHWM); SKIP2G=1 skips them
#
# DATADIR (default /tmp/perf/data) must hold random files f256a f256b f256c (256 MiB each),
# f1g (1 GiB) and f2g (2 GiB), e.g. `head -c 268435456 /dev/urandom > f256a`.
# OUTDIR must not exist. It needs about 16 GB of disk (12 GB with SKIP2G=1) and removes no
# repo (only each get's output file), on purpose: ext4 without a journal (as on our VMs) skips recently
# deleted inodes when it allocates new ones, and for a minute or more after a large delete
# (rm -rf of a repo, `repo gc`) every piece file created costs ~100-200 us of CPU, which
# doubled add's CPU in our runs. Remove OUTDIR yourself and wait a few minutes before the
# next run. CPU per command is steadier than wall clock but not immune: with another job
# thrashing the caches of both cores, the same get cost up to 1.5 times the CPU.
set -u
BIN=$1; W=$2; D=${3:-/tmp/perf/data}
[ -e "$W" ] && { echo "$W exists: give a fresh directory" >&2; exit 1; }
mkdir -p "$W"
pids=()
# start I [ARGS]: daemon I on its own ports, TCP and QUIC; ARGS go to `dhtnode daemon`.
start() { local i=$1; shift
	DHTNODE_PATH=$W/n$i $BIN daemon --api 127.0.0.1:$((58200+i)) --gossip 127.0.0.1:$((58300+i)) \
		--listen /ip4/127.0.0.1/tcp/$((58400+i)) --listen /ip4/127.0.0.1/udp/$((58400+i))/quic-v1 \
		--log-level warn "$@" >"$W/n$i.log" 2>&1 &
	pids[$i]=$!
	for _ in $(seq 100); do $BIN --api 127.0.0.1:$((58200+i)) id >/dev/null 2>&1 && break; sleep 0.1; done; }
stop() { kill "${pids[$1]}"; wait "${pids[$1]}" 2>/dev/null; }
c() { local i=$1; shift; $BIN --api 127.0.0.1:$((58200+i)) "$@"; }
addr() { echo "/ip4/127.0.0.1/tcp/$((58400+$1))/p2p/$(c "$1" id --format json | python3 -c 'import json,sys;print(json.load(sys.stdin)["peer_id"])')"; }
now() { date +%s.%N; }
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
ms() { echo $(( ($2-$1)*10 )); } # clock ticks (100/s) to ms
rate() { python3 -c "print('%.0f MB/s (%.3f s)' % ($1/($3-$2)/1e6, $3-$2))"; }
load() { cut -d' ' -f1 /proc/loadavg; }

cat "$D/f256a" "$D/f256b" "$D/f256c" "$D/f1g" >/dev/null # into the page cache
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
start 0; for i in 1 2 3; do start $i --join 127.0.0.1:58300; done
for f in f256a f256b f256c; do
	a=$(cpu "${pids[0]}"); s=$(now); c 0 add -q "$D/$f" >/dev/null || echo "FAIL add $f"; e=$(now); b=$(cpu "${pids[0]}")
	echo "add256 $f: $(rate 268435456 "$s" "$e") load $(load) daemon cpu $(ms "$a" "$b") ms"
done
for f in f256a f256b f256c f256a f256a; do
	id=$(c 0 add -q -n "$D/$f")
	a=$(cpu "${pids[0]}"); s=$(now); c 0 cat "$id" >/dev/null || echo "FAIL cat $f"; e=$(now); b=$(cpu "${pids[0]}")
	echo "cat256 $f: $(rate 268435456 "$s" "$e") load $(load) daemon cpu $(ms "$a" "$b") ms"
done
id1=$(c 0 add -q -n "$D/f1g")
for i in 0 1 2 3; do c $i add -q "$D/f1g" >/dev/null; done
from1=(--from "$(addr 0)"); from4=(--from "$(addr 0)" --from "$(addr 1)" --from "$(addr 2)" --from "$(addr 3)")
k=4
for r in 1 2; do
	start $k; a0=$(cpu "${pids[0]}"); ak=$(cpu "${pids[$k]}"); s=$(now)
	c $k get "$id1" -o "$W/out" "${from1[@]}" >/dev/null || echo "FAIL get"; e=$(now)
	b0=$(cpu "${pids[0]}"); bk=$(cpu "${pids[$k]}")
	echo "get1g 1 seeder #$r: $(rate 1073741824 "$s" "$e") load $(load) cpu seeder $(ms "$a0" "$b0") ms downloader $(ms "$ak" "$bk") ms"
	cmp -s "$W/out" "$D/f1g" || echo MISMATCH; rm -f "$W/out"; stop $k; k=$((k+1))
	start $k; a=0; for i in 0 1 2 3; do a=$((a+$(cpu "${pids[$i]}"))); done; ak=$(cpu "${pids[$k]}"); s=$(now)
	c $k get "$id1" -o "$W/out" "${from4[@]}" >/dev/null || echo "FAIL get"; e=$(now)
	b=0; for i in 0 1 2 3; do b=$((b+$(cpu "${pids[$i]}"))); done; bk=$(cpu "${pids[$k]}")
	echo "get1g 4 seeders #$r: $(rate 1073741824 "$s" "$e") load $(load) cpu seeders $(ms "$a" "$b") ms downloader $(ms "$ak" "$bk") ms"
	cmp -s "$W/out" "$D/f1g" || echo MISMATCH; rm -f "$W/out"; stop $k; k=$((k+1))
done
# The downloader joins the cluster and waits until the DHT names the four seeders (the
# timed get then includes finding them again, as a user's does).
start $k --join 127.0.0.1:58300
for _ in $(seq 100); do
	[ "$(c $k routing findprovs "$id1" 2>/dev/null | grep -c '^  provider')" -ge 4 ] && break
	sleep 0.1
done
a=0; for i in 0 1 2 3; do a=$((a+$(cpu "${pids[$i]}"))); done; ak=$(cpu "${pids[$k]}"); s=$(now)
got=$(c $k get "$id1" -o "$W/out" 2>&1 | grep -o 'from [0-9]* providers\?') || echo "FAIL get"; e=$(now)
b=0; for i in 0 1 2 3; do b=$((b+$(cpu "${pids[$i]}"))); done; bk=$(cpu "${pids[$k]}")
echo "get1g via DHT ($got): $(rate 1073741824 "$s" "$e") load $(load) cpu seeders $(ms "$a" "$b") ms downloader $(ms "$ak" "$bk") ms"
cmp -s "$W/out" "$D/f1g" || echo MISMATCH; rm -f "$W/out"; stop $k
for i in 0 1 2 3; do stop $i; done
if [ -z "${SKIP2G:-}" ]; then
	start 10; start 11
	s=$(now); c 10 add -q "$D/f2g" >/dev/null; e=$(now)
	echo "add2g: $(rate 2147483648 "$s" "$e") load $(load) adder $(grep VmHWM "/proc/${pids[10]}/status")"
	id2=$(c 10 add -q -n "$D/f2g")
	s=$(now); c 11 get "$id2" -o "$W/out2g" --from "$(addr 10)" >/dev/null; e=$(now)
	echo "get2g: $(rate 2147483648 "$s" "$e") load $(load) seeder $(grep VmHWM "/proc/${pids[10]}/status") downloader $(grep VmHWM "/proc/${pids[11]}/status")"
	cmp -s "$W/out2g" "$D/f2g" || echo MISMATCH; rm -f "$W/out2g"; stop 10; stop 11
fi
echo "load end: $(cut -d' ' -f1-3 /proc/loadavg)"
