/* SPDX-License-Identifier: MIT */
/* The MCP router (agent/mcp_router.c) driven by a script: one operation per
 * input line, its first byte the opcode, the rest the payload.
 *   '1'..'4' a line from client 1..4        'b' a line from the active child
 *   'o'      a line from the previous child  '+' add client 4
 *   '-'      remove client <payload digit>   'r' replacement: new child, active
 *   'x'      the active child died           'n' no active child
 *   'e' / 'E' the child answers its last request with a result / an error
 *   'O'      that answer was too large       'i' an internal request (ping)
 *   't'      mcp_find_trailing_id on the payload
 *   'T'      the clock moves <payload digit + 1> s; expire requests (timeout 5 s)
 *   'L'      tools/list_changed to the clients that listed tools
 * Invariants: every line the router sends is one JSON object; a response
 * reaches a client only with an id that client used; when every client is
 * gone and every child dead, nothing is left in flight. */
#include "fuzz.h"

#include "mcp_router.h"

#define CLIENTS 4
#define IDS_MAX 64

typedef struct State {
        json_object *ids[CLIENTS + 1][IDS_MAX]; /* ids each client used in requests */
        size_t n_ids[CLIENTS + 1];
        int64_t last_request[16];               /* per backend: last upstream id sent */
        unsigned internal_done;
        uint64_t now; /* the router's monotonic clock, µs */
} State;

static const char INIT[] = "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},"
                           "\"serverInfo\":{\"name\":\"fuzz\",\"version\":\"1\"}}";

static json_object *parse_sent(const char *line, size_t len) {
        FUZZ_CHECK(line);
        FUZZ_CHECK(strlen(line) == len);
        FUZZ_CHECK(!memchr(line, '\n', len));
        json_object *o = json_tokener_parse(line);
        FUZZ_CHECK(o && json_object_is_type(o, json_type_object));
        return o;
}

static void cb_client(void *u, unsigned client, const char *line, size_t len) {
        State *s = u;
        json_object *o = parse_sent(line, len), *id = NULL;

        FUZZ_CHECK(client >= 1 && client <= CLIENTS);
        if (!json_object_object_get_ex(o, "method", NULL) && json_object_object_get_ex(o, "id", &id) && id) {
                bool known = false;
                for (size_t i = 0; i < s->n_ids[client] && !known; i++)
                        known = json_object_equal(s->ids[client][i], id);
                if (!known) {
                        fprintf(stderr, "client %u got a response it never asked for: %s\n", client, line);
                        FUZZ_CHECK(!"response routed to the wrong client");
                }
        }
        json_object_put(o);
}

static void cb_backend(void *u, unsigned backend, const char *line, size_t len) {
        State *s = u;
        json_object *o = parse_sent(line, len), *id = NULL;

        FUZZ_CHECK(backend >= 1 && backend < 16);
        if (json_object_object_get_ex(o, "method", NULL) && json_object_object_get_ex(o, "id", &id))
                s->last_request[backend] = json_object_get_int64(id);
        json_object_put(o);
}

static void cb_idle(void *u, unsigned backend) {
}
static void cb_tool(void *u, unsigned backend, const char *tool, bool ok) {
        FUZZ_CHECK(tool);
}
static void cb_internal(McpRouter *r, void *u, unsigned backend, json_object *result, json_object *error) {
        State *s = u;
        FUZZ_CHECK(!result != !error);
        s->internal_done++;
}

static uint64_t cb_now(void *u) {
        return ((State *) u)->now;
}

static const McpRouterCallbacks cbs = { cb_client, cb_backend, cb_idle, cb_tool, cb_now };

static void remember_id(State *s, unsigned client, const char *line, size_t len) {
        json_tokener *tok = json_tokener_new();
        json_object *o = tok ? json_tokener_parse_ex(tok, line, (int) len) : NULL, *id = NULL;
        json_tokener_free(tok);
        if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "id", &id) && id &&
            s->n_ids[client] < IDS_MAX)
                s->ids[client][s->n_ids[client]++] = json_object_get(id);
        json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        State s = { .now = 1000 * USEC_PER_SEC };
        McpRouter *r = NULL;
        unsigned active = 1, previous = 0, next_backend = 2;
        bool have_client4 = false;
        json_object *init = json_tokener_parse(INIT);

        FUZZ_CHECK(mcp_router_new(&cbs, &s, &r) == 0);
        mcp_router_set_request_timeout(r, 5 * USEC_PER_SEC);
        FUZZ_CHECK(mcp_router_backend_add(r, 1) == 0);
        mcp_router_backend_set_init(r, 1, init);
        mcp_router_set_active(r, 1);
        for (unsigned c = 1; c <= 3; c++)
                FUZZ_CHECK(mcp_router_client_add(r, c) == 0);

        while (size > 0) {
                size_t len;
                const uint8_t *line = fuzz_next_part(&data, &size, "\n", &len);
                if (len == 0)
                        continue;
                char op = (char) line[0];
                const char *payload = (const char *) line + 1;
                size_t plen = len - 1;
                int64_t last = active ? s.last_request[active] : 0;

                switch (op) {
                case '1' ... '4': {
                        unsigned c = (unsigned) (op - '0');
                        remember_id(&s, c, payload, plen);
                        mcp_router_client_line(r, c, payload, plen);
                        break;
                }
                case 'b':
                        if (active)
                                (void) mcp_router_backend_line(r, active, payload, plen);
                        break;
                case 'o':
                        if (previous)
                                (void) mcp_router_backend_line(r, previous, payload, plen);
                        break;
                case '+':
                        if (!have_client4 && mcp_router_client_add(r, 4) == 0)
                                have_client4 = true;
                        break;
                case '-': {
                        unsigned c = plen > 0 && payload[0] >= '1' && payload[0] <= '4' ? (unsigned) (payload[0] - '0') : 1;
                        mcp_router_client_remove(r, c);
                        if (c == 4)
                                have_client4 = false;
                        break;
                }
                case 'r':
                        if (next_backend < 16 && mcp_router_backend_add(r, next_backend) == 0) {
                                if (previous)
                                        mcp_router_backend_dead(r, previous, MCP_ERR_CHILD_EXITED, "gone");
                                mcp_router_backend_set_init(r, next_backend, init);
                                previous = active;
                                active = next_backend++;
                                mcp_router_set_active(r, active);
                        }
                        break;
                case 'x':
                        if (active) {
                                mcp_router_backend_dead(r, active, MCP_ERR_CHILD_EXITED, "child exited");
                                mcp_router_set_active(r, 0);
                                active = 0;
                        }
                        break;
                case 'n':
                        mcp_router_set_active(r, 0);
                        break;
                case 'e':
                case 'E':
                        if (active && last > 0) {
                                char buf[256];
                                int n = snprintf(buf, sizeof buf,
                                                 op == 'e' ? "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"content\":[],\"isError\":%s}}"
                                                           : "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-1,\"message\":\"%s\"}}",
                                                 (long long) last, plen > 0 && payload[0] == 't' ? "true" : "false");
                                FUZZ_CHECK(mcp_router_backend_line(r, active, buf, (size_t) n) == 0);
                        }
                        break;
                case 'O':
                        if (active && last > 0)
                                mcp_router_backend_oversize(r, active, last);
                        break;
                case 'i':
                        if (active)
                                (void) mcp_router_internal_request(r, active, "ping", NULL, cb_internal, &s);
                        break;
                case 't': {
                        int64_t id;
                        (void) mcp_find_trailing_id(payload, plen, &id);
                        break;
                }
                case 'T': {
                        s.now += (uint64_t) (plen > 0 && payload[0] >= '0' && payload[0] <= '9' ? payload[0] - '0' + 1 : 1) *
                                 USEC_PER_SEC;
                        uint64_t next = mcp_router_expire(r, s.now);
                        FUZZ_CHECK(next > s.now); /* nothing past its deadline stays */
                        break;
                }
                case 'L':
                        mcp_router_notify_listers(r, "tools/list", "notifications/tools/list_changed");
                        break;
                default:
                        break;
                }
        }

        /* Everyone leaves: nothing may stay in flight. */
        for (unsigned c = 1; c <= CLIENTS; c++)
                mcp_router_client_remove(r, c);
        if (previous)
                mcp_router_backend_dead(r, previous, MCP_ERR_CHILD_EXITED, "gone");
        if (active)
                mcp_router_backend_dead(r, active, MCP_ERR_CHILD_EXITED, "gone");
        FUZZ_CHECK(mcp_router_pending_total(r) == 0);
        FUZZ_CHECK(mcp_router_n_clients(r) == 0);

        mcp_router_free(r);
        json_object_put(init);
        for (unsigned c = 1; c <= CLIENTS; c++)
                for (size_t i = 0; i < s.n_ids[c]; i++)
                        json_object_put(s.ids[c][i]);
        return 0;
}
