/* Built by scripts/check-package.sh against the unpacked package, with
 * `cc check.c $(pkg-config --cflags --libs callgate)`: connects to the packaged daemon's feed
 * and asks one caller-ID question of the demo directory. Exit 0 when alice may present her
 * own DID (and 911 is allowed), else 1. */
#include <stdio.h>
#include <string.h>

#include <callgate.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FEED_SOCKET\n", argv[0]);
        return 2;
    }
    callgate_client_options options = {.snapshot_wait_ms = 10000, .name = "package-check"};
    callgate_client *client = NULL;
    callgate_result r = callgate_client_new(argv[1], &options, &client);
    if (r != CALLGATE_RESULT_OK) {
        fprintf(stderr, "callgate_client_new: %s\n", callgate_result_text(r));
        return 1;
    }
    callgate_caller_id d;
    char buf[CALLGATE_CALLER_ID_MAX];
    size_t n = 0;
    r = callgate_check_caller_id(client, "acme", "alice", "+15550100101", "5551234", &d, buf, sizeof buf, &n);
    int ok = r == CALLGATE_RESULT_OK && d.outcome == CALLGATE_OUTCOME_ALLOW && strcmp(buf, "+15550100101") == 0;
    printf("libcallgate %s: alice presents %s: %s\n", callgate_version(), buf, ok ? "allowed" : "NOT allowed");
    r = callgate_check_caller_id(client, "acme", "mallory", NULL, "911", &d, buf, sizeof buf, &n);
    ok = ok && r == CALLGATE_RESULT_OK && d.outcome != CALLGATE_OUTCOME_DENY;
    callgate_client_free(client);
    return ok ? 0 : 1;
}
