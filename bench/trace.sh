#!/bin/sh
# The traceable mark: what embedding adds to stamping the 14.7 MP photo
# (the same command with and without --trace-payload), how long tracing
# takes, and the false-match measurement on unmarked images (generated,
# and every real image Debian's packages put under /usr). Prints a
# Markdown section. Inputs are cached in bench/out/.
cd "$(dirname "$0")/.." || exit 1
FG=${FILIGRANE_BIN:-bin}/filigrane
out=bench/out
mkdir -p "$out"
runs=${BENCH_RUNS:-5}
q=85
# A pattern key of the bench's own (the worker derives it from
# FILIGRANE_MARK_KEY); the payload is any 64 bits.
export FILIGRANE_TRACE_PATTERN=$(printf '%064x' 1349)
P=5ca1ab1ec0ffee42

photo() { # file width height
    [ -s "$1" ] && return 0
    d=$(mktemp -d)
    vips xyz "$d/xy.v" "$2" "$3"
    vips extract_band "$d/xy.v" "$d/x.v" 0
    vips extract_band "$d/xy.v" "$d/y.v" 1
    vips linear "$d/x.v" "$d/r.v" "$(python3 -c "print(180 / $2)")" 40
    vips linear "$d/y.v" "$d/g.v" "$(python3 -c "print(160 / $3)")" 50
    vips add "$d/x.v" "$d/y.v" "$d/s.v"
    vips linear "$d/s.v" "$d/b.v" "$(python3 -c "print(120 / ($2 + $3))")" 70
    vips bandjoin "$d/r.v $d/g.v $d/b.v" "$d/grad.v"
    vips gaussnoise "$d/n.v" $(($2 / 32)) $(($3 / 32)) --sigma 40 --mean 0
    vips bandjoin "$d/n.v $d/n.v $d/n.v" "$d/n3.v"
    vips resize "$d/n3.v" "$d/blob.v" 32 --kernel linear
    vips gaussnoise "$d/fine.v" "$2" "$3" --sigma 6 --mean 0
    vips add "$d/grad.v" "$d/blob.v" "$d/a.v"
    vips add "$d/a.v" "$d/fine.v" "$d/c.v"
    vips cast "$d/c.v" "$d/u.v" uchar
    vips copy "$d/u.v" "$1[Q=90]"
    rm -rf "$d"
}
photo "$out/photo14.jpg" 4600 3200

a="$FG stamp --seed 5 --max-edge 0 --quality $q --var order=ord-1234 $out/photo14.jpg $out/t-a.jpg"
b="$FG stamp --seed 5 --max-edge 0 --quality $q --var order=ord-1234 --trace-payload $P $out/photo14.jpg $out/t-b.jpg"
# The worker's preview (2048 px), then the suspects traced.
$FG stamp --seed 5 --quality $q --var order=ord-1234 --trace-payload $P "$out/photo14.jpg" "$out/t-p.jpg"
vips resize "$out/t-p.jpg" "$out/t-half.jpg[Q=75]" 0.5
c="rm -f $out/t-r1; $FG stamp --trace $out/t-p.jpg $out/t-r1"
d="rm -f $out/t-r2; $FG stamp --trace $out/t-half.jpg $out/t-r2"
hyperfine -w 1 -r "$runs" --export-json "$out/trace.json" \
    -n a "$a" -n b "$b" -n c "$c" -n d "$d" >"$out/hyperfine-trace.log" 2>&1 ||
    { cat "$out/hyperfine-trace.log"; exit 1; }
cpu() { # command: CPU milliseconds of it and its children (perf's task-clock)
    perf stat -x, -e task-clock sh -c "$1" 2>&1 >/dev/null | tail -n 1 | cut -d, -f1
}
cpu_a=0; cpu_b=0
if command -v perf >/dev/null 2>&1; then
    for i in 1 2 3; do
        cpu_a="$cpu_a + $(cpu "$a")"; cpu_b="$cpu_b + $(cpu "$b")"
    done
fi
sa=$(stat -c %s "$out/t-a.jpg"); sb=$(stat -c %s "$out/t-b.jpg")

python3 - "$out/trace.json" "$runs" "$(python3 -c "print($cpu_a)")" \
    "$(python3 -c "print($cpu_b)")" "$sa" "$sb" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
runs, ca, cb, sa, sb = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
med = {k: res[k]["median"] for k in "abcd"}
print(f"### Tracing (`bench/trace.sh`; median of {runs} runs)\n")
print("| command | median wall |")
print("|---|---:|")
print(f"| (a) `filigrane stamp --max-edge 0`, 4600x3200 (14.7 MP) | {med['a']*1000:.0f} ms |")
print(f"| (b) as (a) with `--trace-payload` | {med['b']*1000:.0f} ms |")
print(f"| (c) `stamp --trace` of the 2048 px preview | {med['c']*1000:.0f} ms |")
print(f"| (d) `stamp --trace` of it downscaled 50%, JPEG q75 | {med['d']*1000:.0f} ms |")
print()
r = med["b"] / med["a"]
print(f"- embedding adds {100*(r-1):+.0f}% wall (target <= 25%: {'met' if r <= 1.25 else 'MISSED'})", end="")
if ca > 0:
    print(f"; {100*(cb/ca-1):+.0f}% CPU (perf task-clock, 3 runs: {ca/3:.0f} -> {cb/3:.0f} ms)", end="")
print(f"; the JPEG grows {100*(sb/sa-1):+.1f}% ({sa} -> {sb} bytes)")
PY
echo
# BENCH_TRACE_CORPUS=0 skips the corpus (it takes minutes).
[ "${BENCH_TRACE_CORPUS:-1}" = 0 ] || python3 bench/trace.py "$FG" "$out/trace-corpus"
