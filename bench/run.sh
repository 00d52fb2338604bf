#!/bin/sh
# make bench: runs every benchmark script in bench/ (each prints a
# Markdown section), after a line naming the machine and the date.
cd "$(dirname "$0")/.." || exit 1
echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2 / 1048576}' /proc/meminfo); $(date -u +%Y-%m-%d)"
echo
status=0
for b in bench/*.sh; do
    [ "$b" = bench/run.sh ] && continue
    sh "$b" || status=1
    echo
done
exit $status
