#!/usr/bin/env bash
# Python's http.client and curl against `rstlab serve`: a server that closes the keep-alive
# connection after the first response, one that resets in the middle of a response, and one
# that closes with the request unread. Each client's real error is printed above the peer's
# report, which ends with what the oracle predicts the client's next calls get.
#
# Usage: examples/serve/http_session.sh [RSTLAB]     (default: `rstlab` on PATH)
set -u
RSTLAB=${1:-rstlab}
HERE=$(cd "$(dirname "$0")" && pwd)
RESPONSE=$HERE/response.http # HTTP/1.1 200 OK, Content-Length: 6, "hello\n": 44 bytes
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# play CLIENT SCENARIO...: serves one connection per scenario (connection N plays the Nth), runs
# the client with the address, then prints the peer's reports (serve ends once it has played
# them).
play() {
    local client=$1
    shift
    local connections=$#
    echo "\$ rstlab serve --connections $connections --respond response.http$(printf ' "%s"' "$@")"
    exec 3< <("$RSTLAB" serve --connections "$connections" --accept-timeout 10s --timeout 2s \
        --respond "$RESPONSE" "$@" 2>/dev/null)
    local addr
    read -r addr <&3
    echo "$addr"
    echo "\$ $client $addr"
    "$client" "$addr" 2>&1
    cat <&3
    exec 3<&-
}

python_client() { python3 "$HERE/two_requests.py" "$1"; }
# One request, or (curl_twice) two on one keep-alive connection, 200 ms apart (--rate 5/s).
curl_client() {
    rm -f "$TMP/body"
    curl -sS --max-time 10 -o "$TMP/body" "http://$1/"
    local status=$?
    echo "curl: exit status $status; body received: $(od -An -c "$TMP/body" 2>/dev/null)"
}
curl_twice() {
    curl -sS --max-time 10 --rate 5/s "http://$1/" "http://$1/"
    echo "curl: exit status $?"
}

# Python's request is 68 bytes (GET / HTTP/1.1, Host: 127.0.0.1:PORT, Accept-Encoding:
# identity), curl 7.88's 79 (Host, User-Agent: curl/7.88.1, Accept: */*).
echo "## 1. The server closes the keep-alive connection after the first response"
play python_client "client write 68; server read 68; server write 44; server close; client write 68"
play curl_twice "client write 79; server read 79; server write 44; server close; client write 79" \
    "client write 79; server read 79; server write 44; client close"

echo "## 2. The server resets the connection in the middle of the response"
play python_client "client write 68; server read 68; server write 40; server abort"
play curl_client "client write 79; server read 79; server write 40; server abort"

echo "## 3. The server closes with the request unread"
play python_client "client write 68; server close"
play curl_client "client write 79; server close"
