/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mcp_router.h"

/* Records every line the router sends, per destination. */
typedef struct Sent {
        bool to_client;
        unsigned dest;
        json_object *msg;
} Sent;

typedef struct Rec {
        Sent sent[64];
        size_t n;
        unsigned idle[8];
        size_t n_idle;
        int tool_ok, tool_fail;
        int internal_results, internal_errors;
        int last_error_code;
} Rec;

static void record(Rec *r, bool to_client, unsigned dest, const char *line, size_t len) {
        assert_true(r->n < ELEMENTSOF(r->sent));
        json_object *o = json_tokener_parse(line);
        assert_non_null(o);
        assert_int_equal(strlen(line), len);
        r->sent[r->n++] = (Sent) { to_client, dest, o };
}
static void cb_client(void *u, unsigned c, const char *l, size_t n) {
        record(u, true, c, l, n);
}
static void cb_backend(void *u, unsigned b, const char *l, size_t n) {
        record(u, false, b, l, n);
}
static void cb_idle(void *u, unsigned b) {
        Rec *r = u;
        r->idle[r->n_idle++] = b;
}
static void cb_tool(void *u, unsigned b, const char *tool, bool ok) {
        Rec *r = u;
        if (ok)
                r->tool_ok++;
        else
                r->tool_fail++;
}

static const McpRouterCallbacks cbs = { cb_client, cb_backend, cb_idle, cb_tool };

static void rec_clear(Rec *r) {
        for (size_t i = 0; i < r->n; i++)
                json_object_put(r->sent[i].msg);
        r->n = 0;
}

static json_object *get(json_object *o, const char *path) {
        /* "a.b.c" */
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        char *save = NULL;
        for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
                if (!json_object_object_get_ex(o, k, &o))
                        return NULL;
        return o;
}

static void client_send(McpRouter *r, unsigned c, const char *s) {
        mcp_router_client_line(r, c, s, strlen(s));
}
static int backend_send(McpRouter *r, unsigned b, const char *s) {
        return mcp_router_backend_line(r, b, s, strlen(s));
}

static const char INIT_RESULT[] =
        "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{\"listChanged\":true}},"
        "\"serverInfo\":{\"name\":\"signer\",\"version\":\"1\"}}";

static McpRouter *setup_router(Rec *rec, unsigned backend) {
        McpRouter *r = NULL;
        assert_int_equal(mcp_router_new(&cbs, rec, &r), 0);
        assert_int_equal(mcp_router_backend_add(r, backend), 0);
        json_object *init = json_tokener_parse(INIT_RESULT);
        mcp_router_backend_set_init(r, backend, init);
        json_object_put(init);
        mcp_router_set_active(r, backend);
        return r;
}

static void test_initialize_from_cache_with_negotiation(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2024-11-05\"}}");
        assert_int_equal(rec.n, 1);
        assert_true(rec.sent[0].to_client);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "id")), "x");
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "result.protocolVersion")), "2024-11-05");
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "result.serverInfo.name")), "signer");
        rec_clear(&rec);
        /* unknown version: answer with one we support (the child's) */
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2030-01-01\"}}");
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "result.protocolVersion")), "2025-06-18");
        rec_clear(&rec);
        /* the child never sees client initialize/initialized */
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        assert_int_equal(rec.n, 0);
        assert_string_equal(mcp_negotiate_version("2025-03-26", "2025-06-18"), "2025-03-26");
        assert_string_equal(mcp_negotiate_version(NULL, "2024-11-05"), "2024-11-05");
        assert_string_equal(mcp_negotiate_version("bogus", "bogus"), MCP_LATEST_PROTOCOL_VERSION);
        mcp_router_free(r);
}

static void test_id_remapping_two_clients_same_id(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        mcp_router_client_add(r, 11);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}");
        client_send(r, 11, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"b\"}}");
        assert_int_equal(rec.n, 2);
        int64_t up1 = json_object_get_int64(get(rec.sent[0].msg, "id"));
        int64_t up2 = json_object_get_int64(get(rec.sent[1].msg, "id"));
        assert_false(rec.sent[0].to_client);
        assert_int_not_equal(up1, up2);
        assert_int_equal(mcp_router_pending_total(r), 2);
        rec_clear(&rec);

        /* answers in the other order go to the right client with its id */
        char line[200];
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"content\":[],\"n\":\"b\"}}", (long long) up2);
        assert_int_equal(backend_send(r, 1, line), 0);
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"content\":[],\"n\":\"a\"}}", (long long) up1);
        assert_int_equal(backend_send(r, 1, line), 0);
        assert_int_equal(rec.n, 2);
        assert_int_equal(rec.sent[0].dest, 11);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "result.n")), "b");
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "id")), 1);
        assert_int_equal(rec.sent[1].dest, 10);
        assert_string_equal(json_object_get_string(get(rec.sent[1].msg, "result.n")), "a");
        assert_int_equal(mcp_router_pending_total(r), 0);
        assert_int_equal(rec.tool_ok, 2);
        rec_clear(&rec);
        /* a duplicate or unknown answer is dropped */
        assert_int_equal(backend_send(r, 1, line), 0);
        assert_int_equal(rec.n, 0);
        mcp_router_free(r);
}

static void test_progress_and_cancel_mapping(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":\"req\",\"method\":\"tools/call\",\"params\":{\"name\":\"count\",\"_meta\":{\"progressToken\":\"tok\"}}}");
        int64_t up = json_object_get_int64(get(rec.sent[0].msg, "id"));
        /* the child sees our token, not the client's */
        assert_int_equal(json_object_get_int64(get(rec.sent[0].msg, "params._meta.progressToken")), up);
        rec_clear(&rec);

        char line[200];
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":%lld,\"progress\":1}}", (long long) up);
        backend_send(r, 1, line);
        assert_int_equal(rec.n, 1);
        assert_int_equal(rec.sent[0].dest, 10);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "params.progressToken")), "tok");
        rec_clear(&rec);

        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":\"req\",\"reason\":\"x\"}}");
        assert_int_equal(rec.n, 1);
        assert_false(rec.sent[0].to_client);
        assert_int_equal(json_object_get_int64(get(rec.sent[0].msg, "params.requestId")), up);
        assert_int_equal(mcp_router_pending_total(r), 0);
        rec_clear(&rec);
        /* cancelling an unknown request is a no-op */
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":\"nope\"}}");
        assert_int_equal(rec.n, 0);
        mcp_router_free(r);
}

static void test_client_disconnect_drops_its_requests_only(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        mcp_router_client_add(r, 11);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}");
        client_send(r, 11, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"b\"}}");
        int64_t up1 = json_object_get_int64(get(rec.sent[0].msg, "id"));
        int64_t up2 = json_object_get_int64(get(rec.sent[1].msg, "id"));
        rec_clear(&rec);
        mcp_router_client_remove(r, 10);
        /* the child is told to stop working on it */
        assert_int_equal(rec.n, 1);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "method")), "notifications/cancelled");
        assert_int_equal(json_object_get_int64(get(rec.sent[0].msg, "params.requestId")), up1);
        assert_int_equal(mcp_router_pending_total(r), 1);
        assert_int_equal(mcp_router_client_pending(r, 11), 1);
        rec_clear(&rec);
        char line[200];
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long) up1);
        backend_send(r, 1, line);
        assert_int_equal(rec.n, 0);
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long) up2);
        backend_send(r, 1, line);
        assert_int_equal(rec.n, 1);
        assert_int_equal(rec.sent[0].dest, 11);
        rec_clear(&rec);
        mcp_router_free(r);
}

static void internal_cb(McpRouter *r, void *u, unsigned b, json_object *result, json_object *error) {
        Rec *rec = u;
        if (result)
                rec->internal_results++;
        if (error) {
                rec->internal_errors++;
                rec->last_error_code = json_object_get_int(get(error, "code"));
        }
}

static void test_backend_death_fails_exactly_its_requests(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"old\"}}");
        /* replacement: backend 2 becomes active, 1 drains */
        mcp_router_backend_add(r, 2);
        json_object *init = json_tokener_parse(INIT_RESULT);
        mcp_router_backend_set_init(r, 2, init);
        json_object_put(init);
        mcp_router_set_active(r, 2);
        assert_int_equal(rec.n_idle, 0); /* 1 still has a request */
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"new\"}}");
        assert_int_equal(rec.sent[1].dest, 2);
        assert_int_equal(mcp_router_backend_pending(r, 1), 1);
        assert_int_equal(mcp_router_backend_pending(r, 2), 1);
        assert_true(mcp_router_internal_request(r, 2, "ping", NULL, internal_cb, &rec) > 0);
        rec_clear(&rec);

        mcp_router_backend_dead(r, 2, MCP_ERR_CHILD_EXITED, "gone");
        /* request 2 fails with the documented code, request 1 (on 1) lives on */
        assert_int_equal(rec.n, 1);
        assert_true(rec.sent[0].to_client);
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "id")), 2);
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "error.code")), MCP_ERR_CHILD_EXITED);
        assert_int_equal(rec.internal_errors, 1);
        assert_int_equal(rec.last_error_code, MCP_ERR_CHILD_EXITED);
        assert_int_equal(rec.tool_fail, 1);
        assert_int_equal(mcp_router_active(r), 0);
        assert_int_equal(mcp_router_backend_pending(r, 1), 1);
        rec_clear(&rec);

        /* no active backend: immediate error, never a hang */
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}");
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "error.code")), MCP_ERR_UNAVAILABLE);
        rec_clear(&rec);
        mcp_router_free(r);
}

static void test_draining_backend_reports_idle(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}");
        int64_t up = json_object_get_int64(get(rec.sent[0].msg, "id"));
        rec_clear(&rec);
        mcp_router_backend_add(r, 2);
        mcp_router_set_active(r, 2);
        assert_int_equal(rec.n_idle, 0);
        char line[200];
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"isError\":true}}", (long long) up);
        backend_send(r, 1, line);
        assert_int_equal(rec.n, 1); /* the old child's answer still reaches the client */
        assert_int_equal(rec.n_idle, 1);
        assert_int_equal(rec.idle[0], 1);
        assert_int_equal(rec.tool_fail, 1);
        rec_clear(&rec);
        mcp_router_free(r);
}

static void test_child_requests(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        /* ping from the child is answered by the agent */
        backend_send(r, 1, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
        assert_int_equal(rec.n, 1);
        assert_false(rec.sent[0].to_client);
        assert_non_null(get(rec.sent[0].msg, "result"));
        rec_clear(&rec);

        /* no client: documented error */
        backend_send(r, 1, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\",\"params\":{}}");
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "error.code")), MCP_ERR_NOT_ROUTABLE);
        rec_clear(&rec);

        /* exactly one initialized client: forwarded, answer mapped back */
        mcp_router_client_add(r, 10);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}");
        rec_clear(&rec);
        backend_send(r, 1, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\",\"params\":{}}");
        assert_int_equal(rec.n, 1);
        assert_true(rec.sent[0].to_client);
        int64_t aid = json_object_get_int64(get(rec.sent[0].msg, "id"));
        rec_clear(&rec);
        char line[200];
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"ok\":1}}", (long long) aid);
        client_send(r, 10, line);
        assert_int_equal(rec.n, 1);
        assert_false(rec.sent[0].to_client);
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "id")), 5);
        rec_clear(&rec);

        /* two clients: refused */
        mcp_router_client_add(r, 11);
        client_send(r, 11, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}");
        rec_clear(&rec);
        backend_send(r, 1, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"roots/list\"}");
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "error.code")), MCP_ERR_NOT_ROUTABLE);
        rec_clear(&rec);

        /* list_changed goes to every initialized client */
        backend_send(r, 1, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
        assert_int_equal(rec.n, 2);
        assert_true(rec.sent[0].to_client && rec.sent[1].to_client);
        assert_int_not_equal(rec.sent[0].dest, rec.sent[1].dest);
        rec_clear(&rec);
        mcp_router_free(r);
}

static void test_bad_input(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        const char *bad[] = { "{", "[1,2]", "42", "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"x\"}", "{\"id\":1}",
                              "{\"a\":1} trailing" };
        int codes[] = { MCP_ERR_PARSE, MCP_ERR_INVALID_REQUEST, MCP_ERR_INVALID_REQUEST, MCP_ERR_INVALID_REQUEST,
                        MCP_ERR_INVALID_REQUEST, MCP_ERR_PARSE };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                client_send(r, 10, bad[i]);
                assert_int_equal(rec.n, 1);
                assert_true(rec.sent[0].to_client);
                assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "error.code")), codes[i]);
                rec_clear(&rec);
        }
        /* garbage from the child is reported, not forwarded */
        assert_int_equal(backend_send(r, 1, "not json"), -EBADMSG);
        assert_int_equal(backend_send(r, 1, "{\"jsonrpc\":\"2.0\"}"), -EBADMSG);
        assert_int_equal(rec.n, 0);
        mcp_router_free(r);
}

static void test_oversize_and_trailing_id(void **state) {
        Rec rec = {};
        int64_t id;
        assert_int_equal(mcp_find_trailing_id("xxxx\"},\"jsonrpc\":\"2.0\",\"id\":17}", 31, &id), 0);
        assert_int_equal(id, 17);
        const char *head = "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"content\":[{\"text\":\"xxx";
        assert_int_equal(mcp_find_trailing_id(head, strlen(head), &id), 0);
        assert_int_equal(id, 5);
        assert_int_equal(mcp_find_trailing_id("xxxxxxxx", 8, &id), -ENOENT);
        assert_int_equal(mcp_find_trailing_id("\"id\":\"s\"}", 9, &id), -ENOENT);

        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":\"big\",\"method\":\"tools/call\",\"params\":{\"name\":\"huge\"}}");
        int64_t up = json_object_get_int64(get(rec.sent[0].msg, "id"));
        rec_clear(&rec);
        mcp_router_backend_oversize(r, 1, up);
        assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "error.code")), MCP_ERR_TOO_LARGE);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "id")), "big");
        rec_clear(&rec);
        mcp_router_free(r);
}

static uint64_t fake_now;
static uint64_t cb_now(void *u) {
        return fake_now;
}

static void test_request_timeout(void **state) {
        Rec rec = {};
        McpRouterCallbacks tcbs = cbs;
        McpRouter *r = NULL;
        tcbs.now = cb_now;
        assert_int_equal(mcp_router_new(&tcbs, &rec, &r), 0);
        assert_int_equal(mcp_router_backend_add(r, 1), 0);
        mcp_router_set_active(r, 1);
        mcp_router_set_request_timeout(r, 30 * USEC_PER_SEC);
        mcp_router_client_add(r, 10);

        /* nothing pending: no deadline */
        assert_true(mcp_router_expire(r, 0) == USEC_INFINITY);
        fake_now = 1000 * USEC_PER_SEC;
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"tools/call\",\"params\":{\"name\":\"sign\"}}");
        fake_now += 10 * USEC_PER_SEC;
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":\"later\",\"method\":\"tools/list\"}");
        assert_int_equal(rec.n, 2);
        int64_t up_slow = json_object_get_int64(get(rec.sent[0].msg, "id"));
        int64_t up_later = json_object_get_int64(get(rec.sent[1].msg, "id"));
        rec_clear(&rec);

        /* before the first deadline nothing happens; it reports that deadline */
        assert_true(mcp_router_expire(r, 1029 * USEC_PER_SEC) == 1030 * USEC_PER_SEC);
        assert_int_equal(rec.n, 0);
        assert_int_equal(mcp_router_client_pending(r, 10), 2);

        /* at it: the client gets -32016 for exactly that request, the child a
         * cancellation, and the next deadline is the second request's */
        assert_true(mcp_router_expire(r, 1030 * USEC_PER_SEC) == 1040 * USEC_PER_SEC);
        assert_int_equal(rec.n, 2);
        assert_false(rec.sent[0].to_client);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "method")), "notifications/cancelled");
        assert_int_equal(json_object_get_int64(get(rec.sent[0].msg, "params.requestId")), up_slow);
        assert_true(rec.sent[1].to_client);
        assert_int_equal(rec.sent[1].dest, 10);
        assert_string_equal(json_object_get_string(get(rec.sent[1].msg, "id")), "slow");
        assert_int_equal(json_object_get_int(get(rec.sent[1].msg, "error.code")), MCP_ERR_TIMEOUT);
        assert_non_null(strstr(json_object_get_string(get(rec.sent[1].msg, "error.message")), "30s"));
        assert_int_equal(rec.tool_fail, 1); /* a timed-out tool call counts as failed */
        assert_int_equal(mcp_router_client_pending(r, 10), 1);
        assert_int_equal(mcp_router_backend_pending(r, 1), 1);
        rec_clear(&rec);

        /* the child's late answer is dropped, not delivered twice */
        char late[128];
        snprintf(late, sizeof late, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long) up_slow);
        assert_int_equal(backend_send(r, 1, late), 0);
        assert_int_equal(rec.n, 0);

        /* answered in time: no deadline left */
        snprintf(late, sizeof late, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long) up_later);
        assert_int_equal(backend_send(r, 1, late), 0);
        assert_int_equal(rec.n, 1);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "id")), "later");
        rec_clear(&rec);
        assert_true(mcp_router_expire(r, UINT64_MAX - 1) == USEC_INFINITY);

        /* timeout 0: requests never expire; a deadline near the end of time saturates */
        mcp_router_set_request_timeout(r, 0);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}");
        assert_true(mcp_router_expire(r, UINT64_MAX - 1) == USEC_INFINITY);
        mcp_router_set_request_timeout(r, USEC_INFINITY - 5);
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}");
        assert_true(mcp_router_expire(r, fake_now) == USEC_INFINITY);
        assert_int_equal(mcp_router_client_pending(r, 10), 2);
        rec_clear(&rec);
        mcp_router_free(r);
}

static void test_many_pending_hash_growth(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        mcp_router_client_add(r, 10);
        int64_t ups[500];
        for (int i = 0; i < 500; i++) {
                char line[128];
                snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}", i);
                client_send(r, 10, line);
                ups[i] = json_object_get_int64(get(rec.sent[0].msg, "id"));
                rec_clear(&rec);
        }
        assert_int_equal(mcp_router_pending_total(r), 500);
        for (int i = 499; i >= 0; i--) {
                char line[128];
                snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long) ups[i]);
                backend_send(r, 1, line);
                assert_int_equal(json_object_get_int(get(rec.sent[0].msg, "id")), i);
                rec_clear(&rec);
        }
        assert_int_equal(mcp_router_pending_total(r), 0);
        mcp_router_free(r);
}

static void test_list_changed_to_listers_only(void **state) {
        Rec rec = {};
        McpRouter *r = setup_router(&rec, 1);
        const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}";
        for (unsigned c = 10; c <= 12; c++) {
                mcp_router_client_add(r, c);
                if (c != 12) /* 12 never initializes */
                        client_send(r, c, init);
        }
        client_send(r, 10, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
        client_send(r, 12, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
        rec_clear(&rec);
        mcp_router_notify_listers(r, "tools/list", "notifications/tools/list_changed");
        /* 10 listed tools; 11 never asked; 12 is not initialized */
        assert_int_equal(rec.n, 1);
        assert_true(rec.sent[0].to_client);
        assert_int_equal(rec.sent[0].dest, 10);
        assert_string_equal(json_object_get_string(get(rec.sent[0].msg, "method")), "notifications/tools/list_changed");
        assert_null(get(rec.sent[0].msg, "id"));
        rec_clear(&rec);
        /* nobody listed prompts */
        mcp_router_notify_listers(r, "prompts/list", "notifications/prompts/list_changed");
        assert_int_equal(rec.n, 0);
        mcp_router_notify_listers(r, "bogus/list", "x");
        assert_int_equal(rec.n, 0);
        mcp_router_free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_initialize_from_cache_with_negotiation),
                cmocka_unit_test(test_id_remapping_two_clients_same_id),
                cmocka_unit_test(test_progress_and_cancel_mapping),
                cmocka_unit_test(test_client_disconnect_drops_its_requests_only),
                cmocka_unit_test(test_backend_death_fails_exactly_its_requests),
                cmocka_unit_test(test_draining_backend_reports_idle),
                cmocka_unit_test(test_child_requests),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_oversize_and_trailing_id),
                cmocka_unit_test(test_many_pending_hash_growth),
                cmocka_unit_test(test_request_timeout),
                cmocka_unit_test(test_list_changed_to_listers_only),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
