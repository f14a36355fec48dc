#!/usr/bin/env bash
# bench/bindings/plot.sh [--from DIR] [OUT.png] - get/set ns/op (hot and
# random keys, 64-byte values) of each binding and of C, one PNG (gnuplot,
# log scale).  Without --from it runs make bench-python, bench-rust,
# bench-node --json and bench-go --json, keeping their output in
# build/bench-json/; with --from it reads DIR/{python,rust,node,go}.out (the
# last JSON line of each).  C (pipelined and dependent, c_loop.h) is the
# lowest of the four runs' own C figures.
# Default OUT: bench/bindings/latency.png.  Needs gnuplot (gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=build/bench-json; run=1
if [ "${1:-}" = "--from" ]; then dir=$2; run=0; shift 2; fi
out=${1:-bench/bindings/latency.png}
if [ $run = 1 ]; then
    mkdir -p "$dir"
    make -s bench-python > "$dir/python.out"
    make -s bench-rust > "$dir/rust.out"
    make -s bench-node BENCH_ARGS=--json > "$dir/node.out"
    make -s bench-go BENCH_ARGS=--json > "$dir/go.out"
    { date -u '+%Y-%m-%d %H:%M UTC'; cut -d' ' -f1-3 /proc/loadavg; nproc; } > "$dir/when"
fi
/usr/bin/python3 - "$dir" > "$dir/latency.dat" <<'PY'
import json, sys
d = sys.argv[1]
def last_json(lang):
    lines = [l for l in open(f"{d}/{lang}.out") if l.startswith("{")]
    return json.loads(lines[-1])
js = {x: last_json(x) for x in ("python", "rust", "node", "go")}
# each: a list of {op, pattern, c_ns, c_dep_ns, <lang>_ns}
res = {x: {f"{r['op']}_{r['pattern']}": r for r in j["results"]} for x, j in js.items()}
print('op C "C, dependent" Python Rust Node.js Go')
for op in ("get_hot", "get_random", "set_hot", "set_random"):
    cs = [res[x][op]["c_ns"] for x in res]
    ds = [res[x][op]["c_dep_ns"] for x in res]
    print(f'"{op.replace("_", " ")}" {min(cs)} {min(ds)} ' +
          " ".join(str(res[x][op][f"{x}_ns"]) for x in ("python", "rust", "node", "go")))
PY
when=$(sed -n 1p "$dir/when" 2>/dev/null || date -u '+%Y-%m-%d')
load=$(sed -n 2p "$dir/when" 2>/dev/null || echo "?")
cpus=$(sed -n 3p "$dir/when" 2>/dev/null || nproc)
gnuplot <<GP
set terminal pngcairo size 880,440 font "DejaVu Sans,10"
set output "$out"
set title "Splinter get/set of 64-byte values, ns/op (log scale; lower is better)\n$when, $cpus CPUs shared with other jobs, load average $load"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set ytics format "%.0f"
set grid ytics
set key outside right top
set ylabel "ns per operation"
plot "$dir/latency.dat" using 2:xtic(1) title columnheader(2), \
     '' using 3 title columnheader(3), '' using 4 title columnheader(4), \
     '' using 5 title columnheader(5), '' using 6 title columnheader(6), \
     '' using 7 title columnheader(7)
GP
echo "wrote $out"
