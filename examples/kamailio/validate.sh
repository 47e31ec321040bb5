#!/usr/bin/env bash
# validate.sh -- run the Kamailio examples and sipp scenarios end to end on
# loopback, with sipp impersonating callgate (uas_fake_callgate.xml).
#
#   examples/kamailio/validate.sh            # exit 0 = every check passed
#   BASE_PORT=26000 examples/kamailio/validate.sh
#   CALLGATE_PORT=5070 examples/kamailio/validate.sh --real-callgate
#       (NOT yet validated -- no callgate binary was available. Skips the fake: a real callgate must already listen on 127.0.0.1:CALLGATE_PORT,
#        know tenant acme / user alice -> +15550100101 and deny bob's call to
#        +19005550199, and accept 127.0.0.1 as a peer)
#
# Needs: kamailio (5.6, Debian modules path), sipp (3.6), ss (iproute2). Uses a temp dir for
# pid files / logs (kept and printed on failure). Kills everything it started.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
SIPP_DIR="$HERE/../sipp"
IP=127.0.0.1
BASE_PORT="${BASE_PORT:-15060}"
RELAY_PORT=$((BASE_PORT))          # callgate-relay.cfg
CALLGATE_PORT="${CALLGATE_PORT:-$((BASE_PORT + 10))}"  # fake callgate (sipp)
UAS_PORT=$((BASE_PORT + 20))       # uas_record.xml
UAC_PORT=$((BASE_PORT + 30))       # uac_* scenarios
REDIRECT_PORT=$((BASE_PORT + 2))   # redirect-htable.cfg
REAL=0
[ "${1:-}" = "--real-callgate" ] && REAL=1

T="$(mktemp -d /tmp/callgate-kamailio.XXXXXX)"
PIDS=()
FAILS=0

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for f in "$T"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

ok()   { echo "PASS: $*"; }
bad()  { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# start_kamailio NAME PORT CFG DEFINES... ; waits until it listens on UDP PORT
start_kamailio() {
	local name=$1 port=$2 cfg=$3; shift 3
	mkdir -p "$T/$name"
	kamailio -f "$cfg" -DD -E -w "$T/$name" -P "$T/$name.pid" -Y "$T/$name" \
		-m 32 -M 8 "$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do
		if ss -Hlun "sport = :$port" | grep -q .; then sleep 0.3; return 0; fi
		sleep 0.1
	done
	echo "kamailio $name did not start:"; cat "$T/$name.log"; exit 2
}

# sipp_bg NAME ARGS... : a sipp UAS in the background; pid in $T/NAME.sipp
sipp_bg() {
	local name=$1; shift
	sipp -i $IP -nostdin -timeout 20s -timeout_error \
		-trace_logs -log_file "$T/$name.log" -trace_err -error_file "$T/$name.err" \
		"$@" >"$T/$name.out" 2>&1 &
	echo $! >"$T/$name.sipp"
	PIDS+=($!)
}
sipp_wait() { wait "$(cat "$T/$1.sipp")"; }

# sipp_uac NAME ARGS... : returns sipp's exit code
sipp_uac() {
	local name=$1; shift
	sipp -i $IP -p $UAC_PORT -nostdin -timeout 20s -timeout_error \
		-trace_logs -log_file "$T/$name.log" -trace_err -error_file "$T/$name.err" \
		"$@" >"$T/$name.out" 2>&1
}

ALICE=(-set tenant acme -set user alice -set ppi +15550100101 -set dialed +15551230000)
BOB=(-set tenant acme -set user bob -set ppi +15550100102 -set dialed +19005550199)

echo "kamailio: $(kamailio -v | head -1); sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*')"
echo "temp dir: $T"

###########################################################################
# 1. relay: allowed call, uac_call -> relay -> callgate(302) -> relay -> uas_record
start_kamailio relay $RELAY_PORT "$HERE/callgate-relay.cfg" \
	-A LISTEN_PORT=$RELAY_PORT -A CALLGATE_PORT=$CALLGATE_PORT -A UAS_PORT=$UAS_PORT

[ $REAL = 0 ] && sipp_bg fake1 -sf "$SIPP_DIR/uas_fake_callgate.xml" -p $CALLGATE_PORT -m 1 \
	-set verdict allow -set pai +15550100101 -set reason number_permitted
sipp_bg uas1 -sf "$SIPP_DIR/uas_record.xml" -p $UAS_PORT -m 1
sleep 0.5
sipp_uac call1 -sf "$SIPP_DIR/uac_call.xml" -m 1 "${ALICE[@]}" $IP:$RELAY_PORT
rc=$?
sipp_wait uas1; uas_rc=$?
[ $REAL = 0 ] && { sipp_wait fake1 || bad "fake callgate (allow) rc=$?"; }
line="$(grep RECEIVED "$T/uas1.log")"
if [ $rc = 0 ] && [ $uas_rc = 0 ] && [[ "$line" == *"pai=<sip:+15550100101@acme>"* ]] \
	&& [[ "$line" == *" ppi= xuser= "* ]]; then
	ok "relay allow: call completed, UAS got P-Asserted-Identity <sip:+15550100101@acme>, no PPI/X-Callgate-User"
else
	bad "relay allow: uac rc=$rc uas rc=$uas_rc line=[$line]"
fi

# 2. relay: denied call, callgate 403 relayed to the caller, UAS never called
[ $REAL = 0 ] && sipp_bg fake2 -sf "$SIPP_DIR/uas_fake_callgate.xml" -p $CALLGATE_PORT -m 1 \
	-set verdict deny -set pai x -set reason premium_blocked
sleep 0.5
sipp_uac denied2 -sf "$SIPP_DIR/uac_call_denied.xml" -m 1 "${BOB[@]}" $IP:$RELAY_PORT
rc=$?
[ $REAL = 0 ] && { sipp_wait fake2 || bad "fake callgate (deny) rc=$?"; }
if [ $rc = 0 ] && grep -q "403 decision=deny" "$T/denied2.log"; then
	ok "relay deny: caller got 403 with $(grep -o 'deny;.*' "$T/denied2.log")"
else
	bad "relay deny: uac rc=$rc"
fi

if [ $REAL = 0 ]; then
	# 3. relay: star code, X-Callgate-Feature is passed on to the UAS
	sipp_bg fake3 -sf "$SIPP_DIR/uas_fake_callgate.xml" -p $CALLGATE_PORT -m 1 \
		-set verdict feature -set pai +15550100101 -set reason feature_permitted
	sipp_bg uas3 -sf "$SIPP_DIR/uas_record.xml" -p $UAS_PORT -m 1
	sleep 0.5
	sipp_uac call3 -sf "$SIPP_DIR/uac_call.xml" -m 1 -set tenant acme -set user alice \
		-set ppi +15550100101 -set dialed '*45201' $IP:$RELAY_PORT
	rc=$?
	sipp_wait uas3; uas_rc=$?
	sipp_wait fake3
	line="$(grep RECEIVED "$T/uas3.log")"
	if [ $rc = 0 ] && [ $uas_rc = 0 ] && [[ "$line" == *"feature=queue_pause_toggle; args=201,sales"* ]]; then
		ok "relay star code: UAS got X-Callgate-Feature"
	else
		bad "relay star code: uac rc=$rc uas rc=$uas_rc line=[$line]"
	fi

	# 4. relay: callgate silent -> 503 (fail closed) after CALLGATE_TIMEOUT_MS
	sipp_uac call4 -sf "$SIPP_DIR/uac_call.xml" -m 1 "${ALICE[@]}" \
		-trace_msg -message_file "$T/call4.msg" $IP:$RELAY_PORT
	rc=$?
	if [ $rc = 1 ] && grep -q "^SIP/2.0 503" "$T/call4.msg"; then
		ok "relay, callgate down: caller got 503 (sipp rc=1 as expected)"
	else
		bad "relay, callgate down: rc=$rc"
	fi

	# 5. direct to (fake) callgate: uac_allow checks the PAI, uac_deny the 403
	sipp_bg fake5 -sf "$SIPP_DIR/uas_fake_callgate.xml" -p $CALLGATE_PORT -m 2 \
		-set verdict allow -set pai +15550100101 -set reason number_permitted
	sleep 0.5
	sipp_uac allow5 -sf "$SIPP_DIR/uac_allow.xml" -m 1 "${ALICE[@]}" \
		-set expect_pai +15550100101 $IP:$CALLGATE_PORT
	rc=$?; [ $rc = 0 ] && ok "uac_allow, right PAI: rc=0" || bad "uac_allow right PAI rc=$rc"
	sipp_uac allow5b -sf "$SIPP_DIR/uac_allow.xml" -m 1 "${ALICE[@]}" \
		-set expect_pai +15559999999 $IP:$CALLGATE_PORT
	rc=$?; [ $rc = 1 ] && ok "uac_allow, wrong PAI expected: rc=1 (call failed)" || bad "uac_allow wrong PAI rc=$rc"
	sipp_wait fake5
	sipp_bg fake6 -sf "$SIPP_DIR/uas_fake_callgate.xml" -p $CALLGATE_PORT -m 1 \
		-set verdict deny -set pai x -set reason premium_blocked
	sleep 0.5
	sipp_uac deny6 -sf "$SIPP_DIR/uac_deny.xml" -m 1 "${BOB[@]}" $IP:$CALLGATE_PORT
	rc=$?; [ $rc = 0 ] && ok "uac_deny: rc=0" || bad "uac_deny rc=$rc"
	sipp_wait fake6
fi
kill "$(cat "$T/relay.pid")" 2>/dev/null

###########################################################################
# 6. redirect-htable.cfg
start_kamailio redirect $REDIRECT_PORT "$HERE/redirect-htable.cfg" -A LISTEN_PORT=$REDIRECT_PORT
sipp_uac r_allow -sf "$SIPP_DIR/uac_allow.xml" -m 1 "${ALICE[@]}" \
	-set expect_pai +15550100101 $IP:$REDIRECT_PORT
rc=$?; [ $rc = 0 ] && ok "redirect-htable allow: 302 with PAI +15550100101" || bad "redirect allow rc=$rc"
sipp_uac r_subst -sf "$SIPP_DIR/uac_allow.xml" -m 1 -set tenant acme -set user bob \
	-set ppi +15550100999 -set dialed +15551230000 -set expect_pai +15550100102 $IP:$REDIRECT_PORT
rc=$?
if [ $rc = 0 ] && grep -q "decision=substitute" "$T/r_subst.log"; then
	ok "redirect-htable substitute: 302 with PAI +15550100102"
else
	bad "redirect substitute rc=$rc"
fi
sipp_uac r_deny -sf "$SIPP_DIR/uac_deny.xml" -m 1 -set tenant acme -set user mallory \
	-set ppi +15550100101 -set dialed +15551230000 $IP:$REDIRECT_PORT
rc=$?; [ $rc = 0 ] && ok "redirect-htable deny: 403" || bad "redirect deny rc=$rc"
sipp_uac r_load -sf "$SIPP_DIR/uac_load.xml" -inf "$SIPP_DIR/load_users.csv" \
	-r 200 -m 1000 -l 500 $IP:$REDIRECT_PORT
rc=$?
[ $rc = 0 ] && ok "uac_load: 1000 calls at 200 cps, all 302/403" || bad "uac_load rc=$rc"
grep -E "Successful call|Failed call|Response Time 1" "$T/r_load.out" | tail -3
kill "$(cat "$T/redirect.pid")" 2>/dev/null

echo
if [ $FAILS = 0 ]; then
	echo "ALL PASSED"
	rm -rf "$T"
	exit 0
fi
echo "$FAILS FAILED; logs in $T"
exit 1
