#!/usr/bin/env bash
# Security: secrets come from files (or the environment naming them), never
# from arguments; a token file others can read is refused; without the
# token the server refuses (exit 3); with it, both directions work.  TLS
# with a CA file: verified, and refused without it.  The mirror never
# widens a store's permissions (0600 stays 0600).
. "$(dirname "$0")/lib.sh"
TOKEN=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
ns_start -js --auth "$TOKEN"
umask 077
printf '%s\n' "$TOKEN" > "$WORK/token"
store a
store b
[ "$("$TOOL" mode "$WORK/a.spl")" = 0600 ] || fail "store not 0600 to start with"

"$MIRROR" "$WORK/a.spl" --to "$URL" --bucket s --token "$TOKEN" > "$WORK/o.out" 2>&1
[ $? = 1 ] && grep -q "never taken on the command line" "$WORK/o.out" || fail "--token accepted: $(cat "$WORK/o.out")"
"$MIRROR" "$WORK/a.spl" --to "nats://x:$TOKEN@127.0.0.1:$PORT" --bucket s > "$WORK/o.out" 2>&1
[ $? = 1 ] && grep -q "credentials in the URL" "$WORK/o.out" || fail "credentials in the URL accepted"
cp "$WORK/token" "$WORK/token-open" && chmod 644 "$WORK/token-open"
"$MIRROR" "$WORK/a.spl" --to "$URL" --bucket s --token-file "$WORK/token-open" > "$WORK/o.out" 2>&1
[ $? = 1 ] && grep -q "readable by others" "$WORK/o.out" || fail "a world-readable token file accepted"
ok "refused at once (exit 1): --token, credentials in the URL, a token file others can read"

timeout 20 "$MIRROR" "$WORK/a.spl" --to "$URL" --bucket s > "$WORK/o.out" 2>&1
rc=$?
[ $rc = 3 ] && grep -qi "author" "$WORK/o.out" || fail "no token: rc $rc, $(cat "$WORK/o.out")"
ok "no token: the server refuses, exit 3 ('$(grep -io "cannot connect.*" "$WORK/o.out" | head -1)')"

mirror_start a "$WORK/a.spl" --to "$URL" --from "$URL" --bucket s --token-file "$WORK/token"
SPLINTER_MIRROR_TOKEN_FILE="$WORK/token" mirror_start b "$WORK/b.spl" --to "$URL" --from "$URL" --bucket s
wait_ready a
wait_ready b
"$TOOL" set "$WORK/a.spl" from-a "1" && "$TOOL" set "$WORK/b.spl" from-b "2" || fail "set"
"$TOOL" converge "$URL" s "$WORK/a.spl" "$WORK/b.spl" --token-file "$WORK/token" --timeout 10 || fail "no convergence"
[ "$("$TOOL" get "$WORK/b.spl" from-a)" = 1 ] || fail "from-a did not arrive"
ok "with --token-file (a) and SPLINTER_MIRROR_TOKEN_FILE (b): both directions work"
! grep -q "$TOKEN" "$WORK"/*.log && ! tr '\0' ' ' < "/proc/${MPID[a]}/cmdline" | grep -q "$TOKEN" ||
    fail "the token shows in a log or the command line"
ok "the token is in no log and no command line"
mirror_stop a
mirror_stop b
[ "$("$TOOL" mode "$WORK/a.spl")" = 0600 ] && [ "$("$TOOL" mode "$WORK/b.spl")" = 0600 ] || fail "store mode changed"
ok "stores are still 0600"

if ! command -v openssl > /dev/null; then
    echo "SKIP tls: no openssl to make a certificate"
else
    ns_stop
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" > "$WORK/openssl.log" 2>&1 || fail "openssl"
    PORT=
    ns_start -js --tls --tlscert "$WORK/cert.pem" --tlskey "$WORK/key.pem"
    store c
    store d
    timeout 20 "$MIRROR" "$WORK/c.spl" --to "$URL" --bucket t --tls > "$WORK/o.out" 2>&1
    rc=$?
    [ $rc = 3 ] || fail "TLS without the CA: rc $rc, $(cat "$WORK/o.out")"
    ok "TLS without the CA file: the certificate is not trusted, exit 3"
    mirror_start c "$WORK/c.spl" --to "$URL" --bucket t --tls-ca "$WORK/cert.pem"
    mirror_start d "$WORK/d.spl" --from "$URL" --bucket t --tls-ca "$WORK/cert.pem"
    wait_ready c
    wait_ready d
    "$TOOL" set "$WORK/c.spl" over-tls "yes" || fail "set"
    for i in $(seq 100); do [ "$("$TOOL" get "$WORK/d.spl" over-tls)" = yes ] && break; sleep 0.05; done
    [ "$("$TOOL" get "$WORK/d.spl" over-tls)" = yes ] || fail "nothing came over TLS"
    ok "over TLS with --tls-ca: mirrored"
    mirror_stop c
    mirror_stop d
fi
done_ok
