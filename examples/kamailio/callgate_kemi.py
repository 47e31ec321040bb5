# callgate_kemi.py -- Kamailio Python 3 KEMI routing (app_python3) that decides each INVITE's
# caller ID in-process with libcallgate, loaded through ctypes. See callgate-kemi.cfg.
#
# Settings, from the environment or else the config's defines ($def):
#   CALLGATE_FEED     the daemon's feed socket              (default /run/callgate/feed.sock)
#   CALLGATE_LIBRARY  path to libcallgate.so                (default libcallgate.so, via ld.so)
#   UAS_IP, UAS_PORT  where allowed calls go                (defines of callgate-kemi.cfg)
#
# Who calls is the authenticated subscriber, never what the caller wrote: every initial INVITE
# loses its X-Callgate-* and P-Asserted-Identity headers, then its caller is authenticated with
# SIP digest (auth_db, realm = From host = tenant, auth username = From user) and checked as
# the subscriber row's callgate_user. Emergency calls are never challenged nor refused.
#
# Each SIP worker process opens its own client the first time it routes a request: Kamailio
# forks its workers after loading this script, and the client's feed thread must start in the
# process that uses it. A check reads only that process's replica: no I/O, microseconds.

import ctypes
import os

import KSR

OUTCOME_DENY, OUTCOME_ALLOW, OUTCOME_SUBSTITUTE = 0, 1, 2
EMERGENCY = ("911", "112", "999", "000", "933")
# auth_check: no credentials for the realm, stale nonce, reused nonce -> challenge (again)
AUTH_CHALLENGE_AGAIN = (-5, -4, -6)
CALLER_ID_MAX = 17
RESULT_OK = 0


class CallerId(ctypes.Structure):
    """struct callgate_caller_id"""
    _fields_ = [("outcome", ctypes.c_uint32), ("reason", ctypes.c_uint32), ("revision", ctypes.c_uint64)]


class ClientOptions(ctypes.Structure):
    """struct callgate_client_options"""
    _fields_ = [("snapshot_wait_ms", ctypes.c_uint32), ("max_backoff_ms", ctypes.c_uint32), ("name", ctypes.c_char_p)]


def load_library(path):
    lib = ctypes.CDLL(path)
    lib.callgate_client_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ClientOptions), ctypes.POINTER(ctypes.c_void_p)]
    lib.callgate_client_new.restype = ctypes.c_uint32
    lib.callgate_client_free.argtypes = [ctypes.c_void_p]
    lib.callgate_client_free.restype = None
    lib.callgate_check_caller_id.argtypes = [
        ctypes.c_void_p,                      # client
        ctypes.c_char_p, ctypes.c_char_p,     # tenant, user
        ctypes.c_char_p, ctypes.c_char_p,     # requested (None = NULL), dialed
        ctypes.POINTER(CallerId),             # out_decision
        ctypes.c_char_p, ctypes.c_size_t,     # caller_id_buf, caller_id_len
        ctypes.POINTER(ctypes.c_size_t),      # out_caller_id_n
    ]
    lib.callgate_check_caller_id.restype = ctypes.c_uint32
    for name in ("callgate_result_text", "callgate_reason_code", "callgate_outcome_text"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_uint32]
        fn.restype = ctypes.c_char_p
    return lib


def setting(name, default):
    value = os.environ.get(name)
    if value:
        return value
    try:
        value = KSR.pv.get("$def(%s)" % name)
    except Exception:
        value = None
    if value is None or value == "" or value == 0:
        return default
    return str(value).strip('"')


def mod_init():
    return kamailio()


class kamailio:
    def __init__(self):
        self.pid = None
        self.lib = None
        self.client = None
        self.uas = None

    def child_init(self, rank):
        return 0

    def open_client(self):
        """The process's client, opened on first use (after the fork)."""
        if self.pid == os.getpid():
            return self.client
        self.pid = os.getpid()
        self.uas = "sip:%s:%s" % (setting("UAS_IP", "127.0.0.1"), setting("UAS_PORT", "5080"))
        feed = setting("CALLGATE_FEED", "/run/callgate/feed.sock")
        try:
            self.lib = load_library(setting("CALLGATE_LIBRARY", "libcallgate.so"))
        except OSError as e:
            KSR.err("callgate: cannot load libcallgate: %s\n" % e)
            return None
        options = ClientOptions(snapshot_wait_ms=2000, max_backoff_ms=1000, name=b"kamailio")
        client = ctypes.c_void_p()
        result = self.lib.callgate_client_new(feed.encode(), ctypes.byref(options), ctypes.byref(client))
        if result != RESULT_OK:
            # Without a snapshot yet; retry with a client that fills in the background (emergency
            # calls are allowed meanwhile, everything else is denied as an unknown tenant).
            KSR.warn("callgate: no snapshot from %s yet: %s\n" % (feed, self.lib.callgate_result_text(result).decode()))
            options.snapshot_wait_ms = 0
            result = self.lib.callgate_client_new(feed.encode(), ctypes.byref(options), ctypes.byref(client))
        if result != RESULT_OK:
            KSR.err("callgate: cannot open a client: %s\n" % self.lib.callgate_result_text(result).decode())
            return None
        self.client = client
        KSR.info("callgate: replica open on %s in process %d\n" % (feed, self.pid))
        return self.client

    # SIP request routing, the equivalent of request_route {}.
    def ksr_request_route(self, msg):
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return 1
        if KSR.is_OPTIONS() and KSR.pv.get("$rU") is None:
            KSR.sl.sl_send_reply(200, "OK")
            return 1
        if KSR.siputils.has_totag() > 0:
            # In-dialog (ACK, BYE, re-INVITE): follow the Record-Route set.
            if KSR.rr.loose_route() > 0 or (KSR.is_ACK() and KSR.tm.t_check_trans() > 0):
                KSR.tm.t_relay()
            elif not KSR.is_ACK():
                KSR.sl.sl_send_reply(404, "Not here")
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1
        if KSR.is_ACK():
            return 1
        if not KSR.is_INVITE():
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        caller = self.authenticate()
        if caller is None:
            return 1
        return self.authorize(*caller)

    def authenticate(self):
        """(callgate user, whether they may ask for a caller ID) of the caller, from digest
        authentication; None once answered."""
        # a caller states who they are only through their credentials, and the caller ID
        # they would like only through P-Preferred-Identity
        KSR.textops.remove_hf_re("^[Xx]-[Cc][Aa][Ll][Ll][Gg][Aa][Tt][Ee]-")
        KSR.hdr.remove("P-Asserted-Identity")
        # a STIR/SHAKEN Identity is the platform's to give, never the caller's
        KSR.hdr.remove("Identity")
        # realm = From host (the tenant); flags 1: the auth username must be the From user
        # and every checked domain the realm, so the From host cannot be another tenant's
        rc = KSR.auth_db.auth_check(KSR.pv.get("$fd") or "", "subscriber", 1)
        if rc > 0:
            KSR.auth.consume_credentials()
            return KSR.pv.get("$avp(callgate_user)") or "", True
        if (KSR.pv.get("$rU") or "") in EMERGENCY:
            # never challenged nor refused: the caller is who their From URI claims, and may
            # not ask for a caller ID
            KSR.pv.unset("$avp(callgate_user)")
            KSR.auth_db.is_subscriber(KSR.pv.get("$fu") or "", "subscriber", 1)
            user = KSR.pv.get("$avp(callgate_user)") or ""
            KSR.warn("callgate: emergency call from unauthenticated %s: checked as [%s]\n"
                     % (KSR.pv.get("$fu"), user))
            return user, False
        if rc in AUTH_CHALLENGE_AGAIN:
            KSR.auth.auth_challenge(KSR.pv.get("$fd") or "", 1)
            return None
        # wrong password (-2), unknown account in this realm (-3), From user not the auth
        # user (-8), malformed credentials (-1)
        KSR.notice("callgate: authentication of %s from %s failed (%d): 403\n"
                   % (KSR.pv.get("$fu"), KSR.pv.get("$si"), rc))
        KSR.sl.sl_send_reply(403, "Forbidden")
        return None

    def authorize(self, user, may_request):
        tenant = KSR.pv.get("$fd") or ""
        requested = KSR.pv.get("$pU") if may_request else None
        dialed = KSR.pv.get("$rU") or ""

        client = self.open_client()
        if client is None:
            # Fail closed, except for emergency calls.
            if dialed in EMERGENCY:
                return self.forward(None, tenant, "allow; reason=emergency_call; rev=0")
            KSR.sl.sl_send_reply(503, "Service Unavailable")
            return 1

        decision = CallerId()
        buf = ctypes.create_string_buffer(CALLER_ID_MAX)
        n = ctypes.c_size_t(0)
        result = self.lib.callgate_check_caller_id(
            client, tenant.encode(), user.encode(), requested.encode() if requested else None, dialed.encode(),
            ctypes.byref(decision), buf, CALLER_ID_MAX, ctypes.byref(n))
        if result != RESULT_OK:
            KSR.err("callgate: check failed: %s\n" % self.lib.callgate_result_text(result).decode())
            KSR.sl.sl_send_reply(500, "Server Error")
            return 1
        header = "%s; reason=%s; rev=%d" % (
            self.lib.callgate_outcome_text(decision.outcome).decode(),
            self.lib.callgate_reason_code(decision.reason).decode(),
            decision.revision)
        KSR.info("callgate: %s@%s -> %s: %s %s\n" % (user, tenant, dialed, header, buf.value.decode()))
        if decision.outcome == OUTCOME_DENY:
            KSR.hdr.append_to_reply("X-Callgate-Decision: %s\r\n" % header)
            KSR.sl.sl_send_reply(403, "Forbidden")
            return 1
        return self.forward(buf.value.decode() or None, tenant, header)

    def forward(self, caller_id, tenant, header):
        # (the caller's P-Asserted-Identity and X-Callgate-* went in authenticate())
        KSR.hdr.remove("P-Preferred-Identity")
        if caller_id:
            KSR.hdr.append("P-Asserted-Identity: <sip:%s@%s>\r\n" % (caller_id, tenant))
        KSR.hdr.append("X-Callgate-Decision: %s\r\n" % header)
        KSR.rr.record_route()
        KSR.setdsturi(self.uas or "sip:127.0.0.1:5080")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_send_reply(500, "Relay Error")
        return 1
