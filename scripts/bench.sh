#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: dm-bufcache against its peers, in one boot of the benchmark
# kernel (the test kernel without lockdep, kmemleak, debug lists, slab
# debugging or Rust debug assertions: KERNEL_FLAVOUR=bench, built and
# cached like the test kernel, only when a benchmark asks for it).
#
#   scripts/bench.sh [--smoke] [--reps N] [--runtime S] [--seed N] [--no-doc]
#                    [--case LIST] [--peers LIST]
#
# --case LIST (make bench CASE=LIST): only these workloads (comma or
# space separated: hot4k hot512 hot4k-qd16 uniform randwrite mix70
# seqread seqwrite hot_after_scan fsync metadata share); --peers LIST
# (make bench PEERS=LIST): only these peers in each workload (loop linear
# linear-brd ebs ebs512 writecache delay bc-wb bc-wt bc-wb-brd bc-delay).
# A selection is a quick look (one case in a few minutes): it never
# touches Documentation/, as --no-doc.
#
# The guest side is tests/vm/bench.sh: fio psync QD1 (and one workload at
# QD16) on every peer in the same boot, N repetitions (default 5) of S
# seconds per run (default 3), the peers of each repetition in a shuffled
# order (--seed N, default from the clock; the guest prints it), every run
# after a flush, sync and drop_caches. Results go to
# .bench-results/<time>/: the raw runs (raw.csv), medians and spread with
# paired per-repetition ratios to dm-linear, dm-ebs and dm-linear over brd
# (results.csv, results.md) and a plot (bench.png); and, unless --no-doc,
# to Documentation/benchmarks.rst and Documentation/benchmarks.png, with
# the kernel flavour, the machine, the date and the source commit, and the
# raw data to Documentation/bench/: raw-<date>-<commit>.csv (the BENCH
# lines) and vm-<date>-<commit>.log (the host's log of the VM run, then
# the guest's whole output). Figures, not assertions.
#
# Duration (TCG, 2 host cores): about 28 min for the defaults (270 runs),
# well under the guest's vm-timeout of 2400 s; see the estimate in
# Documentation/benchmarks-notes.rst before raising --reps or --runtime.
#
# --smoke: a short subset on the test kernel (1 repetition of 1 s, two
# peers), to prove that the whole chain runs; scripts/test.sh runs it.
# Never touches Documentation/.
. "$(dirname "$0")/lib.sh"

SMOKE=0
REPS=5
RUNTIME=3
SEED=""
DOC=1
CASE=""
PEERS=""
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) SMOKE=1; shift ;;
	--reps) REPS="$2"; shift 2 ;;
	--runtime) RUNTIME="$2"; shift 2 ;;
	--seed) SEED="$2"; shift 2 ;;
	--no-doc) DOC=0; shift ;;
	--case) CASE="${2:-}"; shift 2 || die "--case needs a list of workloads" ;;
	--peers) PEERS="${2:-}"; shift 2 || die "--peers needs a list of peers" ;;
	*) die "usage: scripts/bench.sh [--smoke] [--reps N] [--runtime S] [--seed N] [--no-doc] [--case LIST] [--peers LIST]" ;;
	esac
done
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps: '$REPS' is not a count"
[[ "$RUNTIME" =~ ^[1-9][0-9]*$ ]] || die "--runtime: '$RUNTIME' is not a number of seconds"
# The names are checked here, before a kernel or a VM is started.
CASES="hot4k hot512 hot4k-qd16 uniform randwrite mix70 seqread seqwrite hot_after_scan fsync metadata share"
ALLPEERS="loop linear linear-brd ebs ebs512 writecache delay bc-wb bc-wt bc-wb-brd bc-delay"
CASE="${CASE//,/ }" PEERS="${PEERS//,/ }"
for c in $CASE; do
	[[ " $CASES " == *" $c "* ]] || die "--case: no workload '$c' (workloads: $CASES)"
done
for p in $PEERS; do
	[[ " $ALLPEERS " == *" $p "* ]] || die "--peers: no peer '$p' (peers: $ALLPEERS)"
done
[ -z "$CASE$PEERS" ] || DOC=0
[ -n "$SEED" ] || SEED=$(($(date +%s) % 2147483648))
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed: '$SEED' is not a number"
if [ "$SMOKE" = 1 ]; then
	REPS=1 RUNTIME=1 DOC=0
	export KERNEL_FLAVOUR=test
else
	export KERNEL_FLAVOUR=bench
fi

"$REPO_ROOT/scripts/setup.sh"
[ "$KERNEL_FLAVOUR" = test ] || "$REPO_ROOT/scripts/build-kernel.sh"
kernel_paths
RELEASE="$(cat "$KBUILD_OUT/include/config/kernel.release")"

# The source commit, before anything below writes into the tree.
COMMIT="$(git -C "$REPO_ROOT" rev-parse --short HEAD)" || die "not a git work tree: $REPO_ROOT"
[ -z "$(git -C "$REPO_ROOT" status --porcelain)" ] || COMMIT="$COMMIT-dirty"

# The plain module, built against that kernel in a copy of the sources
# (the work tree keeps its own build).
step "building dm_bufcache.ko (plain) for $RELEASE"
SRC="$BUFCACHE_CACHE/bench-kmod/$KCONFIG_KEY"
rm -rf "$SRC"
mkdir -p "$SRC"
tar -C "$REPO_ROOT" --exclude=./.git --exclude=./.vm-results --exclude=./.bench-results \
	--exclude=./rust/cache/target -cf - . | tar -C "$SRC" -xf -
make -C "$SRC" clean >/dev/null 2>&1 || true
make -C "$SRC" KDIR="$KBUILD_OUT" >"$SRC/build.log" 2>&1 ||
	die "module build failed (see $SRC/build.log)"
modinfo -F vermagic "$SRC/dm_bufcache.ko" | grep -q "^$RELEASE " ||
	die "$SRC/dm_bufcache.ko is not built for $RELEASE"

OUT="$REPO_ROOT/.bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
step "benchmark of $COMMIT in one boot of $RELEASE ($REPS repetitions of ${RUNTIME}s per run, seed $SEED)"
BUFCACHE_KO="$SRC/dm_bufcache.ko" "$REPO_ROOT/scripts/vm-run.sh" --keep \
	--env BENCH_REPS="$REPS" --env BENCH_RUNTIME="$RUNTIME" --env BENCH_SMOKE="$SMOKE" \
	--env BENCH_SEED="$SEED" --env BENCH_CASE="${CASE// /,}" --env BENCH_PEERS="${PEERS// /,}" bench |
	tee "$OUT/vm.log" || die "the benchmark run failed (see $OUT/vm.log)"
res="$REPO_ROOT/.vm-results/latest/bench.results.log"
grep -E '^BENCHX?,' "$res" >"$OUT/raw.csv" || die "no results in $res"
log "$(grep -c '^BENCH,' "$OUT/raw.csv") runs, $(grep -c '^BENCHX,' "$OUT/raw.csv") other figures"

DATE="$(date -u +%Y-%m-%d)"
machine="$(nproc) host cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), guest 2 vCPUs and 2 GiB under QEMU $([ "${BUFCACHE_KVM:-0}" = 1 ] && echo KVM || echo TCG)"
args=(--raw "$OUT/raw.csv" --out "$OUT" --kernel "$RELEASE ($KERNEL_FLAVOUR flavour)"
	--machine "$machine" --date "$DATE" --reps "$REPS" --runtime "$RUNTIME" --commit "$COMMIT")
if [ "$DOC" = 1 ]; then
	# The raw data, kept next to the report that cites it.
	RAW_DOC="bench/raw-$DATE-$COMMIT.csv"
	LOG_DOC="bench/vm-$DATE-$COMMIT.log"
	mkdir -p "$REPO_ROOT/Documentation/bench"
	cp "$OUT/raw.csv" "$REPO_ROOT/Documentation/$RAW_DOC"
	{
		echo "# scripts/bench.sh: the host's log of the VM run ($OUT/vm.log)"
		cat "$OUT/vm.log"
		echo "# the guest's output ($res)"
		cat "$res"
	} >"$REPO_ROOT/Documentation/$LOG_DOC"
	log "raw data in Documentation/$RAW_DOC and Documentation/$LOG_DOC"
	args+=(--doc "$REPO_ROOT/Documentation" --raw-doc "$RAW_DOC" --log-doc "$LOG_DOC")
fi
step "report"
/usr/bin/python3 "$REPO_ROOT/scripts/bench-report.py" "${args[@]}" ||
	die "the report failed"
cat "$OUT/results.md"
log "results in $OUT"
