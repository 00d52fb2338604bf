#!/bin/sh
# Prints the data directory `make run` and samples/demo.sh use:
# FILIGRANE_DATA when set, else ./var in the checkout. Run as root from a
# checkout the service user cannot enter (a clone under /root or in a
# 0700 temp directory), nginx's workers and the worker could not reach
# ./var, so the default is then /var/lib/filigrane (README, "Users").
#   scripts/data-dir.sh TOP
top=$1
if [ -n "${FILIGRANE_DATA:-}" ]; then
    printf '%s\n' "$FILIGRANE_DATA"
elif [ "$(id -u)" = 0 ] &&
    ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$top/." 2>/dev/null; then
    printf '%s\n' /var/lib/filigrane
else
    printf '%s\n' "$top/var"
fi
