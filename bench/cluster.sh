#!/bin/sh
# Cluster benchmark: one machine (SQLite, blob files) against the cluster
# (PostgreSQL, the S3 server, two nodes) in one run: downloads per second,
# upload MB/s, previews per minute with one node and with two, each with
# the CPU time of every part (bench/cluster.py says how). Prints a
# Markdown table. WRK_SECONDS, WRK_CONNECTIONS, BENCH_UPLOAD_MB and
# BENCH_PREVIEWS make it shorter or longer.
cd "$(dirname "$0")/.." || exit 1
exec python3 bench/cluster.py
