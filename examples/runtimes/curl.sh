#!/bin/sh
# What curl says in each situation of the book's chapter "Your runtime's words".
#
# Usage: curl.sh PLAN HOST:PORT. PLAN is the steps to take, as every client of
# examples/runtimes/ reads it: `get sleep:200 get` (one curl for both requests, on one
# keep-alive connection: curl waits out the sleep with --rate) or `post:20000`. Prints the
# response bodies as `get: "hello"`, then `curl: ok` or `curl: ERROR` with curl's own error line
# (`curl: (56) Recv failure: Connection reset by peer`). `rstlab runtimes` runs it against the
# peer; it checks nothing itself.
plan=$1
addr=$2
set --
rate=
body=
for step in $plan; do
    case $step in
        get) set -- "$@" "http://$addr/" ;;
        post:*) body=$(printf "%${step#post:}s" "" | tr ' ' x); set -- "$@" --data-binary @- "http://$addr/" ;;
        sleep:*) rate="$((60000 / ${step#sleep:}))/m" ;;
    esac
done
[ -n "$rate" ] && set -- --rate "$rate" "$@"
errors=$(mktemp)
out=$(printf %s "$body" | curl -sS "$@" 2>"$errors")
status=$?
[ -n "$out" ] && printf '%s\n' "$out" | sed "s/^/body: /"
if [ $status -eq 0 ]; then echo "curl: ok"; else echo "curl: ERROR $(head -n1 "$errors") (exit status $status)"; fi
rm -f "$errors"
