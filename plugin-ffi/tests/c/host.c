/* A C host program for libcallgate, compiled and run by tests/c_host.rs against a live daemon
 * serving examples/demo.yaml on its feed socket.
 *
 *   host SOCKET ITERATIONS [PAUSE_US]
 *
 * PAUSE_US (default 0) makes the threads that keep checking while the daemon changes pause
 * between rounds. Under valgrind, which runs one thread at a time, four threads checking
 * back to back keep the replica's table read-locked nearly always, and its lock lets readers
 * in ahead of a waiting writer: the feed thread could wait for seconds to apply a change.
 *
 * It talks to the test over stdin/stdout: it prints "READY <step>" and waits for a line
 * from the test (the test changes or stops the daemon meanwhile), and prints what it measured
 * ("SEEN revoke <ms>", "STALE <ms>", "RESYNCED <ms>"). Any wrong answer prints "FAIL: ..."
 * on stderr and exits 1. It exits 0 after "DONE". */

#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callgate.h"

static int failures = 0;

/* Each evaluates `cond` exactly once. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL (%s:%d): ", __FILE__, __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

#define MUST(cond, ...)                                                                    \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL (%s:%d): ", __FILE__, __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static void sleep_ms(long ms) { sleep_us(ms * 1000); }

/* Tells the test we are at `step` and waits for its go-ahead line. */
static void handshake(const char *step) {
    char line[128];
    printf("READY %s\n", step);
    fflush(stdout);
    MUST(fgets(line, sizeof line, stdin) != NULL, "the test went away at %s", step);
}

static const char *res(callgate_result r) { return callgate_result_text(r); }

/* ---- caller ID ------------------------------------------------------------------------ */

struct caller_case {
    const char *tenant, *user, *requested, *dialed;
    uint32_t outcome;
    const char *reason;
    const char *caller_id;
};

static const struct caller_case CALLER_CASES[] = {
    /* bob presents the number granted to him */
    {"acme", "bob", "+15550100000", "5551234", CALLGATE_OUTCOME_ALLOW, "number_permitted", "+15550100000"},
    /* ivan may present only his preconfigured default */
    {"acme", "ivan", "+15550100101", "5551234", CALLGATE_OUTCOME_SUBSTITUTE, "number_not_permitted", "+15550100600"},
    /* as phones send it: no '+' */
    {"acme", "alice", "15550100101", "5551234", CALLGATE_OUTCOME_ALLOW, "number_permitted", "+15550100101"},
    {"acme", "alice", NULL, "5551234", CALLGATE_OUTCOME_SUBSTITUTE, "no_caller_id_requested", "+15550100000"},
    {"acme", "alice", "+19995550000", "5551234", CALLGATE_OUTCOME_SUBSTITUTE, "number_not_owned", "+15550100000"},
    /* milton has no number access and initech no default */
    {"initech", "milton", "+13125550000", "5551234", CALLGATE_OUTCOME_DENY, "no_permitted_caller_id", ""},
    {"acme", "mallory", "+15550100000", "5551234", CALLGATE_OUTCOME_DENY, "user_suspended", ""},
    {"acme", "nobody", "+15550100000", "5551234", CALLGATE_OUTCOME_DENY, "unknown_user", ""},
    {"nowhere", "bob", "+15550100000", "5551234", CALLGATE_OUTCOME_DENY, "unknown_tenant", ""},
    /* emergency: a suspended user's 911 goes out with the site's callback number */
    {"acme", "mallory", "+15550100000", "911", CALLGATE_OUTCOME_SUBSTITUTE, "emergency_callback", "+15550100200"},
    /* the tenant's own emergency number, with a number the user may present */
    {"acme", "alice", "+15550100101", "933", CALLGATE_OUTCOME_ALLOW, "emergency_call", "+15550100101"},
    /* 112 is an emergency number everywhere, even for a tenant nobody knows: allowed, asserting
       no number (an unknown tenant owns none), never the one asked for */
    {"nowhere", "x", "+15550100000", "112", CALLGATE_OUTCOME_ALLOW, "emergency_no_caller_id", ""},
    /* dial strings as phones send them: tel:, phone-context, a trailing #, an SOS URN */
    {"acme", "mallory", "+15550100000", "sip:911;phone-context=+1@acme;user=phone", CALLGATE_OUTCOME_SUBSTITUTE, "emergency_callback", "+15550100200"},
    {"acme", "mallory", NULL, "tel:911", CALLGATE_OUTCOME_SUBSTITUTE, "emergency_callback", "+15550100200"},
    {"acme", "nobody", "+442070000000", "911#", CALLGATE_OUTCOME_SUBSTITUTE, "emergency_callback", "+15550100000"},
    {"initech", "x", "+442070000000", "urn:service:sos.police", CALLGATE_OUTCOME_ALLOW, "emergency_no_caller_id", ""},
};

static int check_caller(const callgate_client *c, const struct caller_case *k, int verbose) {
    callgate_caller_id d;
    char buf[CALLGATE_CALLER_ID_MAX];
    size_t n = 999;
    callgate_result r = callgate_check_caller_id(c, k->tenant, k->user, k->requested, k->dialed, &d, buf,
                                                 sizeof buf, &n);
    int ok = r == CALLGATE_RESULT_OK && d.outcome == k->outcome &&
             strcmp(callgate_reason_code(d.reason), k->reason) == 0 && strcmp(buf, k->caller_id) == 0 &&
             n == strlen(k->caller_id);
    if (!ok && verbose) {
        CHECK(0, "caller id %s/%s %s -> %s: got %s %s %s \"%s\", want %s %s \"%s\"", k->user, k->tenant,
              k->requested ? k->requested : "(none)", k->dialed, res(r), callgate_outcome_text(d.outcome),
              callgate_reason_code(d.reason), r == CALLGATE_RESULT_OK ? buf : "", callgate_outcome_text(k->outcome),
              k->reason, k->caller_id);
    }
    return ok;
}

/* ---- agent pause, recording, permission, feature code ---------------------------------- */

struct pause_case {
    const char *tenant, *actor, *agent, *queue;
    bool paused;
    uint32_t outcome;
    const char *reason;
};

static const struct pause_case PAUSE_CASES[] = {
    {"acme", "carol", "bob", "sales", true, CALLGATE_OUTCOME_ALLOW, "queue_supervisor"},
    {"acme", "carol", "bob", "600", false, CALLGATE_OUTCOME_ALLOW, "queue_supervisor"}, /* by dial string */
    {"acme", "bob", "bob", "sales", true, CALLGATE_OUTCOME_ALLOW, "self_pause"},
    {"acme", "carol", "dave", "support", true, CALLGATE_OUTCOME_DENY, "out_of_scope"},
    {"acme", "carol", "alice", "sales", true, CALLGATE_OUTCOME_DENY, "not_queue_member"},
    {"acme", "carol", "bob", "nosuch", true, CALLGATE_OUTCOME_DENY, "unknown_queue"},
    {"acme", "mallory", "mallory", "support", true, CALLGATE_OUTCOME_DENY, "user_suspended"},
};

static int check_pause(const callgate_client *c, const struct pause_case *k, int verbose) {
    callgate_verdict v;
    callgate_result r = callgate_check_agent_pause(c, k->tenant, k->actor, k->agent, k->queue, k->paused, &v);
    int ok = r == CALLGATE_RESULT_OK && v.outcome == k->outcome && strcmp(callgate_reason_code(v.reason), k->reason) == 0;
    if (!ok && verbose) {
        CHECK(0, "pause %s by %s in %s: got %s %s %s, want %s %s", k->agent, k->actor, k->queue, res(r),
              callgate_outcome_text(v.outcome), callgate_reason_code(v.reason), callgate_outcome_text(k->outcome),
              k->reason);
    }
    return ok;
}

struct recording_case {
    const char *actor, *action, *queue;
    const char *exts[3];
    size_t n_exts;
    const char *site;
    uint32_t outcome;
    const char *reason;
};

static const struct recording_case RECORDING_CASES[] = {
    {"kim", "play", "sales", {NULL}, 0, NULL, CALLGATE_OUTCOME_ALLOW, "permitted"}, /* full report access */
    {"bob", "list", "sales", {NULL}, 0, NULL, CALLGATE_OUTCOME_ALLOW, "permitted"}, /* granted queue */
    {"bob", "delete", "sales", {NULL}, 0, NULL, CALLGATE_OUTCOME_DENY, "action_not_permitted"},
    {"erin", "play", NULL, {"202", "203"}, 2, "depot", CALLGATE_OUTCOME_ALLOW, "permitted"}, /* her site */
    {"erin", "play", NULL, {"101"}, 1, "hq", CALLGATE_OUTCOME_DENY, "out_of_scope"},
};

static int check_recording(const callgate_client *c, const struct recording_case *k, int verbose) {
    callgate_verdict v;
    callgate_result r = callgate_check_recording(c, "acme", k->actor, k->action, k->queue,
                                                 k->n_exts ? k->exts : NULL, k->n_exts, NULL, 0, k->site, &v);
    int ok = r == CALLGATE_RESULT_OK && v.outcome == k->outcome && strcmp(callgate_reason_code(v.reason), k->reason) == 0;
    if (!ok && verbose) {
        CHECK(0, "recording %s by %s: got %s %s %s, want %s %s", k->action, k->actor, res(r),
              callgate_outcome_text(v.outcome), callgate_reason_code(v.reason), callgate_outcome_text(k->outcome),
              k->reason);
    }
    return ok;
}

struct permission_case {
    const char *user, *category, *action, *site, *queue, *extension, *number;
    uint32_t outcome;
    const char *reason;
};

static const struct permission_case PERMISSION_CASES[] = {
    {"alice", "extensions", "edit", NULL, NULL, NULL, NULL, CALLGATE_OUTCOME_ALLOW, "permitted"},
    {"olivia", "billing", "view", NULL, NULL, NULL, NULL, CALLGATE_OUTCOME_ALLOW, "permitted"},
    {"ivan", "billing", "view", NULL, NULL, NULL, NULL, CALLGATE_OUTCOME_DENY, "action_not_permitted"},
    {"erin", "extensions", "view", NULL, NULL, "202", NULL, CALLGATE_OUTCOME_ALLOW, "permitted"},
    {"erin", "extensions", "view", NULL, NULL, "101", NULL, CALLGATE_OUTCOME_DENY, "out_of_scope"},
    {"alice", "phone_numbers", "edit", NULL, NULL, NULL, "+15550100200", CALLGATE_OUTCOME_ALLOW, "permitted"},
};

static int check_permission(const callgate_client *c, const struct permission_case *k, int verbose) {
    callgate_verdict v;
    callgate_result r = callgate_check_permission(c, "acme", k->user, k->category, k->action, k->site, k->queue,
                                                  k->extension, k->number, &v);
    int ok = r == CALLGATE_RESULT_OK && v.outcome == k->outcome && strcmp(callgate_reason_code(v.reason), k->reason) == 0;
    if (!ok && verbose) {
        CHECK(0, "permission %s %s:%s: got %s %s %s, want %s %s", k->user, k->category, k->action, res(r),
              callgate_outcome_text(v.outcome), callgate_reason_code(v.reason), callgate_outcome_text(k->outcome),
              k->reason);
    }
    return ok;
}

struct feature_case {
    const char *user, *dialed;
    uint32_t outcome;
    const char *reason;
    uint32_t feature;
    const char *args; /* the args joined with ',' */
};

static const struct feature_case FEATURE_CASES[] = {
    /* carol pauses bob (owner of 201) in sales, dialed as queue number 600 */
    {"carol", "*46*201*600", CALLGATE_OUTCOME_ALLOW, "queue_supervisor", CALLGATE_FEATURE_QUEUE_PAUSE_TOGGLE, "201,sales"},
    {"alice", "*70", CALLGATE_OUTCOME_DENY, "unknown_feature_code", CALLGATE_FEATURE_NONE, ""}, /* disabled */
    {"ivan", "*46", CALLGATE_OUTCOME_DENY, "role_not_allowed", CALLGATE_FEATURE_QUEUE_PAUSE_TOGGLE, ""},
    /* the tenant's own *99: bob's own box, the extension he owns */
    {"bob", "*99", CALLGATE_OUTCOME_ALLOW, "own_extension", CALLGATE_FEATURE_VOICEMAIL_OWN, "201"},
    /* forward the caller's own extension to a target */
    {"alice", "*72*5551234", CALLGATE_OUTCOME_ALLOW, "permitted", CALLGATE_FEATURE_CALL_FORWARD_ON, "101,5551234"},
};

static int check_feature(const callgate_client *c, const struct feature_case *k, int verbose) {
    callgate_feature_code a;
    char buf[64], joined[64] = "";
    size_t n = 0;
    callgate_result r = callgate_check_feature_code(c, "acme", k->user, k->dialed, &a, buf, sizeof buf, &n);
    if (r == CALLGATE_RESULT_OK) {
        size_t at = 0;
        for (uint32_t i = 0; i < a.args_count && at < n; i++) {
            if (i) strcat(joined, ",");
            strcat(joined, buf + at);
            at += strlen(buf + at) + 1;
        }
    }
    int ok = r == CALLGATE_RESULT_OK && a.outcome == k->outcome && strcmp(callgate_reason_code(a.reason), k->reason) == 0 &&
             a.feature == k->feature && strcmp(joined, k->args) == 0;
    if (!ok && verbose) {
        CHECK(0, "feature %s %s: got %s %s %s %s [%s], want %s %s %s [%s]", k->user, k->dialed, res(r),
              callgate_outcome_text(a.outcome), callgate_reason_code(a.reason), callgate_feature_text(a.feature),
              joined, callgate_outcome_text(k->outcome), k->reason, callgate_feature_text(k->feature), k->args);
    }
    return ok;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every decision of the tables above; the number that came out wrong. */
static int check_all(const callgate_client *c, int verbose) {
    int wrong = 0;
    for (size_t i = 0; i < COUNT(CALLER_CASES); i++) wrong += !check_caller(c, &CALLER_CASES[i], verbose);
    for (size_t i = 0; i < COUNT(PAUSE_CASES); i++) wrong += !check_pause(c, &PAUSE_CASES[i], verbose);
    for (size_t i = 0; i < COUNT(RECORDING_CASES); i++) wrong += !check_recording(c, &RECORDING_CASES[i], verbose);
    for (size_t i = 0; i < COUNT(PERMISSION_CASES); i++) wrong += !check_permission(c, &PERMISSION_CASES[i], verbose);
    for (size_t i = 0; i < COUNT(FEATURE_CASES); i++) wrong += !check_feature(c, &FEATURE_CASES[i], verbose);
    return wrong;
}

/* ---- STIR/SHAKEN attestation ---------------------------------------------------------- */

/* One row each of the attestation table (src/attest.rs): A, B, C and none. */
static void check_attestation(const callgate_client *c) {
    static const struct {
        const char *user, *requested, *dialed;
        bool authenticated;
        uint32_t level, reason;
    } rows[] = {
        {"alice", "+15550100101", "5551234", true, CALLGATE_ATTEST_A, CALLGATE_ATTEST_REASON_USER_MAY_PRESENT},
        {"dave", NULL, "5551234", true, CALLGATE_ATTEST_B, CALLGATE_ATTEST_REASON_NUMBER_NOT_TIED_TO_USER},
        {"alice", "+15550100101", "5551234", false, CALLGATE_ATTEST_C, CALLGATE_ATTEST_REASON_CALLER_NOT_AUTHENTICATED},
        {"mallory", "+15550100200", "5551234", true, CALLGATE_ATTEST_NONE, CALLGATE_ATTEST_REASON_NONE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        callgate_caller_id d;
        callgate_attestation a;
        memset(&a, 0xab, sizeof a);
        char buf[CALLGATE_CALLER_ID_MAX];
        size_t n = 0;
        callgate_result r = callgate_check_caller_id_attested(c, "acme", rows[i].user, rows[i].requested,
                                                              rows[i].dialed, rows[i].authenticated, &d, &a,
                                                              buf, sizeof buf, &n);
        CHECK(r == CALLGATE_RESULT_OK && a.level == rows[i].level && a.reason == rows[i].reason,
              "attestation of %s (authenticated %d): %s level %u reason %u, want %u %u", rows[i].user,
              (int)rows[i].authenticated, res(r), a.level, a.reason, rows[i].level, rows[i].reason);
    }
    callgate_caller_id d;
    char buf[CALLGATE_CALLER_ID_MAX];
    size_t n = 0;
    callgate_result r = callgate_check_caller_id_attested(c, "acme", "alice", NULL, "5551234", true, &d, NULL,
                                                          buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER, "NULL out_attestation: %s", res(r));
}

/* ---- bad arguments ------------------------------------------------------------------- */

static void check_bad_arguments(const callgate_client *c) {
    const char bad_utf8[] = {'b', (char)0xff, 'b', 0};
    callgate_caller_id d, untouched;
    memset(&d, 0xab, sizeof d);
    untouched = d;
    char buf[CALLGATE_CALLER_ID_MAX];
    memset(buf, 'x', sizeof buf);
    size_t n = 12345;

#define UNTOUCHED() (memcmp(&d, &untouched, sizeof d) == 0 && n == 12345 && buf[0] == 'x')
    callgate_result r;
    r = callgate_check_caller_id(NULL, "acme", "bob", NULL, "5551234", &d, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && UNTOUCHED(), "NULL client: %s", res(r));
    r = callgate_check_caller_id(c, NULL, "bob", NULL, "5551234", &d, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && UNTOUCHED(), "NULL tenant: %s", res(r));
    r = callgate_check_caller_id(c, "acme", NULL, NULL, "5551234", &d, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && UNTOUCHED(), "NULL user: %s", res(r));
    r = callgate_check_caller_id(c, "acme", "bob", NULL, NULL, &d, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && UNTOUCHED(), "NULL dialed: %s", res(r));
    r = callgate_check_caller_id(c, "acme", "bob", NULL, "5551234", NULL, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && n == 12345, "NULL out: %s", res(r));
    r = callgate_check_caller_id(c, "acme", "bob", NULL, "5551234", &d, NULL, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && UNTOUCHED(), "NULL buffer: %s", res(r));
    r = callgate_check_caller_id(c, "acme", "bob", NULL, "5551234", &d, buf, sizeof buf, NULL);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && UNTOUCHED(), "NULL out_n: %s", res(r));
    r = callgate_check_caller_id(c, bad_utf8, "bob", NULL, "5551234", &d, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_INVALID_UTF8 && UNTOUCHED(), "bad UTF-8 tenant: %s", res(r));
    r = callgate_check_caller_id(c, "acme", "bob", bad_utf8, "5551234", &d, buf, sizeof buf, &n);
    CHECK(r == CALLGATE_RESULT_INVALID_UTF8 && UNTOUCHED(), "bad UTF-8 requested: %s", res(r));
    /* "+15550100000" and its NUL need 13 bytes */
    r = callgate_check_caller_id(c, "acme", "bob", "+15550100000", "5551234", &d, buf, 12, &n);
    CHECK(r == CALLGATE_RESULT_INSUFFICIENT_SIZE && UNTOUCHED(), "small buffer: %s", res(r));
    r = callgate_check_caller_id(c, "acme", "bob", "+15550100000", "5551234", &d, buf, 13, &n);
    CHECK(r == CALLGATE_RESULT_OK && n == 12 && strcmp(buf, "+15550100000") == 0, "exact buffer: %s", res(r));

    callgate_verdict v, v0;
    memset(&v, 0xab, sizeof v);
    v0 = v;
    r = callgate_check_agent_pause(c, "acme", "carol", NULL, "sales", true, &v);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && memcmp(&v, &v0, sizeof v) == 0, "NULL agent: %s", res(r));
    r = callgate_check_agent_pause(c, "acme", "carol", "bob", bad_utf8, true, &v);
    CHECK(r == CALLGATE_RESULT_INVALID_UTF8 && memcmp(&v, &v0, sizeof v) == 0, "bad UTF-8 queue: %s", res(r));
    r = callgate_check_recording(c, "acme", "kim", "burn", "sales", NULL, 0, NULL, 0, NULL, &v);
    CHECK(r == CALLGATE_RESULT_UNKNOWN_ACTION && memcmp(&v, &v0, sizeof v) == 0, "recording action: %s", res(r));
    r = callgate_check_recording(c, "acme", "kim", "play", "sales", NULL, 2, NULL, 0, NULL, &v);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && memcmp(&v, &v0, sizeof v) == 0, "NULL array: %s", res(r));
    const char *with_null[] = {"201", NULL};
    r = callgate_check_recording(c, "acme", "kim", "play", "sales", with_null, 2, NULL, 0, NULL, &v);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && memcmp(&v, &v0, sizeof v) == 0, "NULL in array: %s", res(r));
    const char *with_bad[] = {"201", bad_utf8};
    r = callgate_check_recording(c, "acme", "kim", "play", "sales", NULL, 0, with_bad, 2, NULL, &v);
    CHECK(r == CALLGATE_RESULT_INVALID_UTF8 && memcmp(&v, &v0, sizeof v) == 0, "bad UTF-8 in array: %s", res(r));
    /* more than the 16 the library keeps on the stack */
    const char *many[40];
    for (int i = 0; i < 40; i++) many[i] = i == 39 ? "202" : "999";
    r = callgate_check_recording(c, "acme", "erin", "play", NULL, many, 40, NULL, 0, NULL, &v);
    CHECK(r == CALLGATE_RESULT_OK, "40 extensions: %s", res(r));
    memset(&v, 0xab, sizeof v);
    r = callgate_check_permission(c, "acme", "alice", "weather", "view", NULL, NULL, NULL, NULL, &v);
    CHECK(r == CALLGATE_RESULT_UNKNOWN_CATEGORY && memcmp(&v, &v0, sizeof v) == 0, "category: %s", res(r));
    r = callgate_check_permission(c, "acme", "alice", "extensions", "fly", NULL, NULL, NULL, NULL, &v);
    CHECK(r == CALLGATE_RESULT_UNKNOWN_ACTION && memcmp(&v, &v0, sizeof v) == 0, "action: %s", res(r));
    r = callgate_check_permission(c, "acme", "alice", "extensions", "view", NULL, NULL, bad_utf8, NULL, &v);
    CHECK(r == CALLGATE_RESULT_INVALID_UTF8 && memcmp(&v, &v0, sizeof v) == 0, "bad extension: %s", res(r));

    callgate_feature_code a, a0;
    memset(&a, 0xab, sizeof a);
    a0 = a;
    char args[8];
    size_t an = 777;
    /* "201\0sales\0" needs 10 bytes */
    r = callgate_check_feature_code(c, "acme", "carol", "*46*201*600", &a, args, sizeof args, &an);
    CHECK(r == CALLGATE_RESULT_INSUFFICIENT_SIZE && memcmp(&a, &a0, sizeof a) == 0 && an == 777, "args buffer: %s", res(r));
    r = callgate_check_feature_code(c, "acme", "carol", "*46*201*600", &a, NULL, 64, &an);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && memcmp(&a, &a0, sizeof a) == 0, "NULL args buffer: %s", res(r));

    uint64_t x = 42;
    CHECK(callgate_client_revision(NULL, &x) == CALLGATE_RESULT_NULL_PARAMETER && x == 42, "revision(NULL)");
    CHECK(callgate_client_revision(c, NULL) == CALLGATE_RESULT_NULL_PARAMETER, "revision(c, NULL)");
    CHECK(callgate_client_staleness_ms(NULL, &x) == CALLGATE_RESULT_NULL_PARAMETER && x == 42, "staleness(NULL)");

    callgate_client *out = (callgate_client *)&x;
    r = callgate_client_new(NULL, NULL, &out);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER && out == (callgate_client *)&x, "new(NULL path): %s", res(r));
    r = callgate_client_new(bad_utf8, NULL, &out);
    CHECK(r == CALLGATE_RESULT_INVALID_UTF8 && out == (callgate_client *)&x, "new(bad path): %s", res(r));
    r = callgate_client_new("/tmp/x.sock", NULL, NULL);
    CHECK(r == CALLGATE_RESULT_NULL_PARAMETER, "new(NULL out): %s", res(r));

    CHECK(strcmp(callgate_result_text(CALLGATE_RESULT_TIMEOUT), "no snapshot arrived within the wait") == 0, "result text");
    CHECK(strcmp(callgate_result_text(123456), "unknown result") == 0, "unknown result text");
    CHECK(strcmp(callgate_reason_text(CALLGATE_REASON_NUMBER_NOT_OWNED), "the tenant does not own this number") == 0,
          "reason text");
    CHECK(strcmp(callgate_reason_code(0), "unknown") == 0, "reason 0");
    CHECK(strcmp(callgate_version(), "0.1.0") == 0, "version %s", callgate_version());
#undef UNTOUCHED
}

/* ---- before any snapshot ------------------------------------------------------------- */

static void check_offline(void) {
    callgate_client *c = NULL;
    callgate_client_options o = {0, 0, "host-offline"};
    callgate_result r = callgate_client_new("/nonexistent/callgate.sock", &o, &c);
    MUST(r == CALLGATE_RESULT_OK && c != NULL, "new without waiting: %s", res(r));
    uint64_t stale = 0, rev = 99;
    CHECK(callgate_client_staleness_ms(c, &stale) == CALLGATE_RESULT_OK && stale == UINT64_MAX, "staleness %" PRIu64, stale);
    CHECK(callgate_client_revision(c, &rev) == CALLGATE_RESULT_OK && rev == 0, "revision %" PRIu64, rev);
    /* Emergency numbers are allowed before any snapshot: the engine's own rule. With no
       tenant known, no number is known to be the caller's: none is asserted. */
    const struct caller_case e911 = {"acme", "alice", "+15550100101", "911", CALLGATE_OUTCOME_ALLOW, "emergency_no_caller_id", ""};
    const struct caller_case e112 = {"acme", "bob", NULL, "tel:112", CALLGATE_OUTCOME_ALLOW, "emergency_no_caller_id", ""};
    const struct caller_case other = {"acme", "alice", "+15550100101", "5551234", CALLGATE_OUTCOME_DENY, "unknown_tenant", ""};
    check_caller(c, &e911, 1);
    check_caller(c, &e112, 1);
    check_caller(c, &other, 1);
    sleep_ms(100);
    char err[512];
    size_t n = 0;
    r = callgate_client_last_error(c, err, sizeof err, &n);
    CHECK(r == CALLGATE_RESULT_OK && strstr(err, "cannot connect") != NULL && n == strlen(err), "last error: %s [%s]", res(r), err);
    callgate_client_free(c);
    callgate_client_free(NULL);

    /* Waiting for a snapshot from a socket that isn't there fails, and writes nothing. */
    callgate_client *untouched = (callgate_client *)&o;
    o.snapshot_wait_ms = 200;
    r = callgate_client_new("/nonexistent/callgate.sock", &o, &untouched);
    CHECK(r == CALLGATE_RESULT_CONNECT_FAILED && untouched == (callgate_client *)&o, "new waiting: %s", res(r));
}

/* ---- threads ------------------------------------------------------------------------- */

struct worker {
    pthread_t thread;
    const callgate_client *client;
    long iterations; /* 0 = until `stop` */
    long pause_us;   /* between rounds when running until `stop` */
    volatile int *stop;
    long checks, errors;
};

/* Asks every kind of question; only results that are OK and outcomes that can be right
 * count (bob's caller ID flips between allow and substitute while the test revokes). */
static void *work(void *arg) {
    struct worker *w = arg;
    for (long i = 0; w->iterations ? i < w->iterations : !*w->stop; i++) {
        callgate_caller_id d;
        char buf[CALLGATE_CALLER_ID_MAX];
        size_t n;
        if (callgate_check_caller_id(w->client, "acme", "bob", "+15550100000", "5551234", &d, buf, sizeof buf, &n) !=
                CALLGATE_RESULT_OK ||
            d.outcome == CALLGATE_OUTCOME_DENY)
            w->errors++;
        if (!check_caller(w->client, &CALLER_CASES[1 + i % (COUNT(CALLER_CASES) - 1)], 0)) w->errors++;
        if (!check_pause(w->client, &PAUSE_CASES[i % COUNT(PAUSE_CASES)], 0)) w->errors++;
        if (!check_recording(w->client, &RECORDING_CASES[i % COUNT(RECORDING_CASES)], 0)) w->errors++;
        if (!check_permission(w->client, &PERMISSION_CASES[i % COUNT(PERMISSION_CASES)], 0)) w->errors++;
        if (!check_feature(w->client, &FEATURE_CASES[i % COUNT(FEATURE_CASES)], 0)) w->errors++;
        w->checks += 6;
        if (w->pause_us && !w->iterations) sleep_us(w->pause_us);
    }
    return NULL;
}

#define THREADS 4

static void start_workers(struct worker *ws, const callgate_client *c, long iterations, long pause_us, volatile int *stop) {
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct worker){.client = c, .iterations = iterations, .pause_us = pause_us, .stop = stop};
        MUST(pthread_create(&ws[i].thread, NULL, work, &ws[i]) == 0, "pthread_create");
    }
}

static long join_workers(struct worker *ws, long *checks) {
    long errors = 0;
    *checks = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ws[i].thread, NULL);
        errors += ws[i].errors;
        *checks += ws[i].checks;
    }
    return errors;
}

/* ---- main ---------------------------------------------------------------------------- */

static callgate_caller_id bob(const callgate_client *c) {
    callgate_caller_id d = {0};
    char buf[CALLGATE_CALLER_ID_MAX];
    size_t n;
    MUST(callgate_check_caller_id(c, "acme", "bob", "+15550100000", "5551234", &d, buf, sizeof buf, &n) == CALLGATE_RESULT_OK,
         "bob's check");
    return d;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s SOCKET ITERATIONS [PAUSE_US]\n", argv[0]);
        return 2;
    }
    const char *socket_path = argv[1];
    long iterations = atol(argv[2]);
    long pause_us = argc == 4 ? atol(argv[3]) : 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    check_offline();

    callgate_client *c = NULL;
    callgate_client_options o = {.snapshot_wait_ms = 20000, .max_backoff_ms = 200, .name = "c-host"};
    callgate_result r = callgate_client_new(socket_path, &o, &c);
    MUST(r == CALLGATE_RESULT_OK, "new: %s", res(r));
    uint64_t rev = 0, stale = 0;
    MUST(callgate_client_revision(c, &rev) == CALLGATE_RESULT_OK && rev == 1, "revision %" PRIu64, rev);

    /* every decision */
    CHECK(check_all(c, 1) == 0, "decisions");
    check_attestation(c);
    check_bad_arguments(c);

    /* several threads at once */
    struct worker ws[THREADS];
    long checks;
    double t0 = now_ms();
    start_workers(ws, c, iterations, 0, NULL);
    long errors = join_workers(ws, &checks);
    CHECK(errors == 0, "%ld wrong answers of %ld from %d threads", errors, checks, THREADS);
    printf("THREADS %d checks %ld in %.1f ms\n", THREADS, checks, now_ms() - t0);

    /* a revocation: the test takes bob's number grant away */
    volatile int stop = 0;
    start_workers(ws, c, 0, pause_us, &stop);
    handshake("revoke");
    t0 = now_ms();
    while (bob(c).outcome != CALLGATE_OUTCOME_SUBSTITUTE) {
        MUST(now_ms() - t0 < 10000, "the revocation never arrived");
        sleep_ms(1);
    }
    printf("SEEN revoke %.1f\n", now_ms() - t0);
    callgate_caller_id d = bob(c);
    CHECK(d.revision == 2 && strcmp(callgate_reason_code(d.reason), "number_not_permitted") == 0, "after revoke: rev %" PRIu64 " %s",
          d.revision, callgate_reason_code(d.reason));

    /* the daemon goes away: the replica keeps answering from what it has */
    handshake("stop");
    t0 = now_ms();
    do {
        MUST(now_ms() - t0 < 15000, "staleness never grew");
        sleep_ms(50);
        CHECK(callgate_client_staleness_ms(c, &stale) == CALLGATE_RESULT_OK, "staleness");
    } while (stale < 1500);
    printf("STALE %" PRIu64 "\n", stale);
    CHECK(bob(c).outcome == CALLGATE_OUTCOME_SUBSTITUTE, "answers while the daemon is down");
    CHECK(check_all(c, 0) == 1, "while the daemon is down, only bob's revoked answer differs from the demo's");

    /* it comes back (with bob's grant restored at revision 3): the replica resyncs by itself */
    handshake("restart");
    t0 = now_ms();
    for (;;) {
        MUST(now_ms() - t0 < 20000, "never resynced");
        callgate_client_revision(c, &rev);
        callgate_client_staleness_ms(c, &stale);
        if (rev >= 3 && stale < 1000 && bob(c).outcome == CALLGATE_OUTCOME_ALLOW) break;
        sleep_ms(5);
    }
    printf("RESYNCED %.1f\n", now_ms() - t0);
    stop = 1;
    errors = join_workers(ws, &checks);
    CHECK(errors == 0, "%ld wrong answers of %ld while the daemon changed, stopped and restarted", errors, checks);
    CHECK(check_all(c, 1) == 0, "decisions after the resync");

    callgate_client_free(c);
    printf("DONE failures=%d\n", failures);
    return failures == 0 ? 0 : 1;
}
