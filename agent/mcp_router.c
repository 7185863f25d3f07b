/* SPDX-License-Identifier: MIT */
#include "mcp_router.h"

#include <errno.h>
#include <inttypes.h>

#include "config.h"

const char *const mcp_supported_versions[] = {
        "2025-06-18",
        "2025-03-26",
        "2024-11-05",
        NULL,
};

/* A request in flight on a backend. The upstream id doubles as the progress
 * token we hand the child, so one map finds both. */
typedef struct Pending {
        int64_t upstream_id;
        unsigned backend;
        unsigned client;              /* 0: internal (agent-originated) */
        json_object *client_id;       /* the client's own id */
        json_object *progress_token;  /* the client's own token, or NULL */
        char *tool;                   /* tools/call name, or NULL */
        uint64_t deadline;            /* monotonic µs; 0: none */
        McpInternalCallback cb;
        void *userdata;
} Pending;

/* A request the child sent, forwarded to the one attached client. */
typedef struct ServerRequest {
        int64_t agent_id;
        unsigned backend;
        unsigned client;
        json_object *backend_id;
} ServerRequest;

/* int64 (>0) -> pointer, open addressing; 0 empty, -1 tombstone. */
typedef struct IdMap {
        int64_t *keys;
        void **values;
        size_t cap, n, used;
} IdMap;

/* List methods whose callers are told when a replacement changes the list. */
static const char *const list_methods[] = { "tools/list", "prompts/list", "resources/list", NULL };

typedef struct RouterClient {
        unsigned id;
        bool initialized;
        unsigned n_pending;
        unsigned listed; /* bit i: asked list_methods[i] */
} RouterClient;

typedef struct RouterBackend {
        unsigned id;
        json_object *init;
        unsigned n_pending;
} RouterBackend;

struct McpRouter {
        McpRouterCallbacks cb;
        void *userdata;
        json_tokener *tok;
        IdMap pending;
        IdMap server_requests;
        RouterClient *clients;
        size_t n_clients, cap_clients;
        RouterBackend *backends;
        size_t n_backends, cap_backends;
        unsigned active;
        int64_t next_id;
        uint64_t requests_total;
        uint64_t request_timeout;
};

static size_t idmap_slot(const IdMap *m, int64_t key) {
        return (size_t) (((uint64_t) key * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (m->cap - 1);
}

static int idmap_grow(IdMap *m) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        /* Only rehash into a bigger table if live entries need it. */
        if (m->n * 4 < m->cap)
                ncap = m->cap;
        int64_t *keys = calloc(ncap, sizeof(int64_t));
        void **values = calloc(ncap, sizeof(void *));
        if (!keys || !values) {
                free(keys);
                free(values);
                return -ENOMEM;
        }
        IdMap nm = { .keys = keys, .values = values, .cap = ncap };
        for (size_t i = 0; i < m->cap; i++)
                if (m->keys[i] > 0) {
                        size_t s = idmap_slot(&nm, m->keys[i]);
                        while (nm.keys[s] != 0)
                                s = (s + 1) & (ncap - 1);
                        nm.keys[s] = m->keys[i];
                        nm.values[s] = m->values[i];
                        nm.n++;
                        nm.used++;
                }
        free(m->keys);
        free(m->values);
        *m = nm;
        return 0;
}

static int idmap_put(IdMap *m, int64_t key, void *value) {
        if ((m->used + 1) * 2 > m->cap) {
                int r = idmap_grow(m);
                if (r < 0)
                        return r;
        }
        size_t s = idmap_slot(m, key);
        while (m->keys[s] > 0)
                s = (s + 1) & (m->cap - 1);
        if (m->keys[s] == 0)
                m->used++;
        m->keys[s] = key;
        m->values[s] = value;
        m->n++;
        return 0;
}

static void *idmap_get(const IdMap *m, int64_t key) {
        if (m->cap == 0 || key <= 0)
                return NULL;
        for (size_t s = idmap_slot(m, key);; s = (s + 1) & (m->cap - 1)) {
                if (m->keys[s] == 0)
                        return NULL;
                if (m->keys[s] == key)
                        return m->values[s];
        }
}

static void *idmap_remove(IdMap *m, int64_t key) {
        if (m->cap == 0 || key <= 0)
                return NULL;
        for (size_t s = idmap_slot(m, key);; s = (s + 1) & (m->cap - 1)) {
                if (m->keys[s] == 0)
                        return NULL;
                if (m->keys[s] == key) {
                        void *v = m->values[s];
                        m->keys[s] = -1;
                        m->values[s] = NULL;
                        m->n--;
                        return v;
                }
        }
}

static void idmap_done(IdMap *m) {
        free(m->keys);
        free(m->values);
        *m = (IdMap) {};
}

static void pending_free(Pending *p) {
        if (!p)
                return;
        json_object_put(p->client_id);
        json_object_put(p->progress_token);
        free(p->tool);
        free(p);
}

static void server_request_free(ServerRequest *s) {
        if (!s)
                return;
        json_object_put(s->backend_id);
        free(s);
}

int mcp_router_new(const McpRouterCallbacks *cb, void *userdata, McpRouter **ret) {
        McpRouter *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->cb = *cb;
        r->userdata = userdata;
        r->tok = json_tokener_new();
        if (!r->tok) {
                free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

McpRouter *mcp_router_free(McpRouter *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->pending.cap; i++)
                if (r->pending.keys[i] > 0)
                        pending_free(r->pending.values[i]);
        for (size_t i = 0; i < r->server_requests.cap; i++)
                if (r->server_requests.keys[i] > 0)
                        server_request_free(r->server_requests.values[i]);
        idmap_done(&r->pending);
        idmap_done(&r->server_requests);
        for (size_t i = 0; i < r->n_backends; i++)
                json_object_put(r->backends[i].init);
        free(r->backends);
        free(r->clients);
        json_tokener_free(r->tok);
        free(r);
        return NULL;
}

static RouterClient *find_client(McpRouter *r, unsigned id) {
        for (size_t i = 0; i < r->n_clients; i++)
                if (r->clients[i].id == id)
                        return &r->clients[i];
        return NULL;
}

static RouterBackend *find_backend(McpRouter *r, unsigned id) {
        for (size_t i = 0; i < r->n_backends; i++)
                if (r->backends[i].id == id)
                        return &r->backends[i];
        return NULL;
}

unsigned mcp_router_client_pending(McpRouter *r, unsigned client) {
        RouterClient *c = find_client(r, client);
        return c ? c->n_pending : 0;
}

unsigned mcp_router_n_clients(McpRouter *r) {
        return (unsigned) r->n_clients;
}

uint64_t mcp_router_requests_total(McpRouter *r) {
        return r->requests_total;
}

unsigned mcp_router_active(McpRouter *r) {
        return r->active;
}

unsigned mcp_router_pending_total(McpRouter *r) {
        return (unsigned) r->pending.n;
}

unsigned mcp_router_backend_pending(McpRouter *r, unsigned backend) {
        RouterBackend *b = find_backend(r, backend);
        return b ? b->n_pending : 0;
}

static void send_json(McpRouter *r, bool to_client, unsigned dest, json_object *o) {
        size_t len;
        const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                          &len);
        if (!s)
                return;
        if (to_client)
                r->cb.send_client(r->userdata, dest, s, len);
        else
                r->cb.send_backend(r->userdata, dest, s, len);
}

static json_object *make_error(json_object *id, int code, const char *message) {
        json_object *o = json_object_new_object(), *e = json_object_new_object();
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "id", id ? json_object_get(id) : NULL);
        json_object_object_add(e, "code", json_object_new_int(code));
        json_object_object_add(e, "message", json_object_new_string(message));
        json_object_object_add(o, "error", e);
        return o;
}

static void send_error(McpRouter *r, bool to_client, unsigned dest, json_object *id, int code, const char *message) {
        json_object *o = make_error(id, code, message);
        send_json(r, to_client, dest, o);
        json_object_put(o);
}

/* Forget a pending request; tell the owner if a draining backend went idle. */
static void pending_detach(McpRouter *r, Pending *p) {
        idmap_remove(&r->pending, p->upstream_id);
        RouterClient *c = p->client ? find_client(r, p->client) : NULL;
        if (c && c->n_pending > 0)
                c->n_pending--;
        RouterBackend *b = find_backend(r, p->backend);
        if (b && b->n_pending > 0)
                b->n_pending--;
}

static void maybe_idle(McpRouter *r, unsigned backend) {
        RouterBackend *b = find_backend(r, backend);
        if (b && b->n_pending == 0 && backend != r->active && r->cb.backend_idle)
                r->cb.backend_idle(r->userdata, backend);
}

int mcp_router_client_add(McpRouter *r, unsigned client) {
        if (client == 0 || find_client(r, client))
                return -EEXIST;
        if (r->n_clients == r->cap_clients) {
                size_t n = r->cap_clients ? r->cap_clients * 2 : 8;
                RouterClient *a = reallocarray(r->clients, n, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                r->clients = a;
                r->cap_clients = n;
        }
        r->clients[r->n_clients++] = (RouterClient) { .id = client };
        return 0;
}

static json_object *cancelled_notification(int64_t request_id, const char *reason) {
        json_object *o = json_object_new_object(), *p = json_object_new_object();
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "method", json_object_new_string("notifications/cancelled"));
        json_object_object_add(p, "requestId", json_object_new_int64(request_id));
        json_object_object_add(p, "reason", json_object_new_string(reason));
        json_object_object_add(o, "params", p);
        return o;
}

/* Collect map values matching a predicate, so callbacks may re-enter. */
static size_t collect(IdMap *m, void ***ret, bool (*pred)(void *v, unsigned a), unsigned arg) {
        void **list = NULL;
        size_t n = 0;
        if (m->n > 0) {
                list = calloc(m->n, sizeof(void *));
                if (!list) {
                        *ret = NULL;
                        return 0;
                }
                for (size_t i = 0; i < m->cap; i++)
                        if (m->keys[i] > 0 && pred(m->values[i], arg))
                                list[n++] = m->values[i];
        }
        *ret = list;
        return n;
}

static bool pending_of_client(void *v, unsigned a) {
        return ((Pending *) v)->client == a;
}
static bool pending_of_backend(void *v, unsigned a) {
        return ((Pending *) v)->backend == a;
}
static bool sreq_of_client(void *v, unsigned a) {
        return ((ServerRequest *) v)->client == a;
}
static bool sreq_of_backend(void *v, unsigned a) {
        return ((ServerRequest *) v)->backend == a;
}

void mcp_router_client_remove(McpRouter *r, unsigned client) {
        RouterClient *c = find_client(r, client);
        if (!c)
                return;

        /* The child stops working for a client that left (MCP cancellation). */
        void **list;
        size_t n = collect(&r->pending, &list, pending_of_client, client);
        for (size_t i = 0; i < n; i++) {
                Pending *p = list[i];
                json_object *note = cancelled_notification(p->upstream_id, "client disconnected");
                send_json(r, false, p->backend, note);
                json_object_put(note);
                pending_detach(r, p);
                unsigned backend = p->backend;
                pending_free(p);
                maybe_idle(r, backend);
        }
        free(list);

        n = collect(&r->server_requests, &list, sreq_of_client, client);
        for (size_t i = 0; i < n; i++) {
                ServerRequest *s = list[i];
                idmap_remove(&r->server_requests, s->agent_id);
                send_error(r, false, s->backend, s->backend_id, MCP_ERR_NOT_ROUTABLE,
                           "the client this request was routed to disconnected");
                server_request_free(s);
        }
        free(list);

        c = find_client(r, client);
        size_t idx = (size_t) (c - r->clients);
        memmove(c, c + 1, (r->n_clients - idx - 1) * sizeof(*c));
        r->n_clients--;
}

int mcp_router_backend_add(McpRouter *r, unsigned backend) {
        if (backend == 0 || find_backend(r, backend))
                return -EEXIST;
        if (r->n_backends == r->cap_backends) {
                size_t n = r->cap_backends ? r->cap_backends * 2 : 4;
                RouterBackend *a = reallocarray(r->backends, n, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                r->backends = a;
                r->cap_backends = n;
        }
        r->backends[r->n_backends++] = (RouterBackend) { .id = backend };
        return 0;
}

void mcp_router_backend_set_init(McpRouter *r, unsigned backend, json_object *init_result) {
        RouterBackend *b = find_backend(r, backend);
        if (!b)
                return;
        json_object_put(b->init);
        b->init = json_object_get(init_result);
}

void mcp_router_set_active(McpRouter *r, unsigned backend) {
        unsigned old = r->active;
        r->active = backend;
        if (old && old != backend)
                maybe_idle(r, old);
}

const char *mcp_negotiate_version(const char *requested, const char *child_version) {
        /* MCP lifecycle: answer with the requested version if supported,
         * else with another one we support (the latest); the client then
         * decides whether it can go on. */
        if (requested)
                for (const char *const *v = mcp_supported_versions; *v; v++)
                        if (streq(*v, requested))
                                return *v;
        if (child_version)
                for (const char *const *v = mcp_supported_versions; *v; v++)
                        if (streq(*v, child_version))
                                return *v;
        return MCP_LATEST_PROTOCOL_VERSION;
}

static json_object *parse_line(McpRouter *r, const char *line, size_t len) {
        json_tokener_reset(r->tok);
        json_object *o = json_tokener_parse_ex(r->tok, line, (int) MIN(len, (size_t) INT32_MAX));
        if (!o && json_tokener_get_error(r->tok) == json_tokener_continue) {
                /* A bare number needs an end marker to be complete. */
                size_t consumed = json_tokener_get_parse_end(r->tok);
                o = json_tokener_parse_ex(r->tok, "", 1);
                if (o && consumed != len) {
                        json_object_put(o);
                        return NULL;
                }
                return o;
        }
        if (!o)
                return NULL;
        /* Only whitespace may follow the value. */
        for (size_t i = json_tokener_get_parse_end(r->tok); i < len; i++)
                if (!strchr(" \t\r\n", line[i])) {
                        json_object_put(o);
                        return NULL;
                }
        return o;
}

static bool valid_id(json_object *id) {
        return id && (json_object_is_type(id, json_type_int) || json_object_is_type(id, json_type_string));
}

static void answer_initialize(McpRouter *r, RouterClient *c, json_object *msg, json_object *id) {
        RouterBackend *b = r->active ? find_backend(r, r->active) : NULL;
        if (!b || !b->init) {
                send_error(r, true, c->id, id, MCP_ERR_UNAVAILABLE, "signer child is not ready");
                return;
        }
        json_object *params = NULL, *pv = NULL, *cv = NULL;
        (void) json_object_object_get_ex(msg, "params", &params);
        if (params)
                (void) json_object_object_get_ex(params, "protocolVersion", &pv);
        (void) json_object_object_get_ex(b->init, "protocolVersion", &cv);
        const char *version = mcp_negotiate_version(json_object_get_string(pv), json_object_get_string(cv));

        json_object *result = NULL;
        if (json_object_deep_copy(b->init, &result, NULL) < 0 || !result) {
                send_error(r, true, c->id, id, MCP_ERR_UNAVAILABLE, "out of memory");
                return;
        }
        json_object_object_add(result, "protocolVersion", json_object_new_string(version));
        json_object *o = json_object_new_object();
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "id", json_object_get(id));
        json_object_object_add(o, "result", result);
        send_json(r, true, c->id, o);
        json_object_put(o);
        c->initialized = true;
}

static int list_method_index(const char *method) {
        for (int i = 0; list_methods[i]; i++)
                if (streq(method, list_methods[i]))
                        return i;
        return -1;
}

static void client_request(McpRouter *r, RouterClient *c, json_object *msg, const char *method, json_object *id) {
        r->requests_total++;
        int li = list_method_index(method);
        if (li >= 0)
                c->listed |= 1u << li;
        if (streq(method, "initialize")) {
                answer_initialize(r, c, msg, id);
                return;
        }
        if (r->active == 0) {
                send_error(r, true, c->id, id, MCP_ERR_UNAVAILABLE,
                           "signer child is not running (see agv-agent status)");
                return;
        }
        if (c->n_pending >= MCP_CLIENT_PENDING_MAX) {
                send_error(r, true, c->id, id, MCP_ERR_TOO_MANY, "too many requests in flight");
                return;
        }

        Pending *p = calloc(1, sizeof(*p));
        if (!p) {
                send_error(r, true, c->id, id, MCP_ERR_UNAVAILABLE, "out of memory");
                return;
        }
        p->upstream_id = ++r->next_id;
        p->backend = r->active;
        p->client = c->id;
        p->client_id = json_object_get(id);
        if (r->request_timeout > 0 && r->cb.now)
                p->deadline = usec_add(r->cb.now(r->userdata), r->request_timeout);

        json_object *params = NULL, *meta = NULL, *token = NULL, *name = NULL;
        if (json_object_object_get_ex(msg, "params", &params) && json_object_is_type(params, json_type_object)) {
                if (json_object_object_get_ex(params, "_meta", &meta) &&
                    json_object_is_type(meta, json_type_object) &&
                    json_object_object_get_ex(meta, "progressToken", &token) && token) {
                        p->progress_token = json_object_get(token);
                        json_object_object_add(meta, "progressToken", json_object_new_int64(p->upstream_id));
                }
                if (streq(method, "tools/call") && json_object_object_get_ex(params, "name", &name) &&
                    json_object_is_type(name, json_type_string))
                        p->tool = strdup(json_object_get_string(name));
        }
        if (idmap_put(&r->pending, p->upstream_id, p) < 0) {
                send_error(r, true, c->id, id, MCP_ERR_UNAVAILABLE, "out of memory");
                pending_free(p);
                return;
        }
        c->n_pending++;
        RouterBackend *b = find_backend(r, p->backend);
        if (b)
                b->n_pending++;

        json_object_object_add(msg, "id", json_object_new_int64(p->upstream_id));
        send_json(r, false, p->backend, msg);
}

static Pending *find_client_pending(McpRouter *r, unsigned client, json_object *id) {
        for (size_t i = 0; i < r->pending.cap; i++)
                if (r->pending.keys[i] > 0) {
                        Pending *p = r->pending.values[i];
                        if (p->client == client && json_object_equal(p->client_id, id))
                                return p;
                }
        return NULL;
}

static void client_notification(McpRouter *r, RouterClient *c, json_object *msg, const char *method) {
        if (streq(method, "notifications/initialized"))
                return; /* the agent already did the child's handshake */

        if (streq(method, "notifications/cancelled")) {
                json_object *params = NULL, *rid = NULL;
                if (!json_object_object_get_ex(msg, "params", &params) ||
                    !json_object_object_get_ex(params, "requestId", &rid))
                        return;
                Pending *p = find_client_pending(r, c->id, rid);
                if (!p)
                        return; /* already answered: the race the spec allows */
                json_object_object_add(params, "requestId", json_object_new_int64(p->upstream_id));
                send_json(r, false, p->backend, msg);
                /* The child should not answer a cancelled request. */
                pending_detach(r, p);
                unsigned backend = p->backend;
                pending_free(p);
                maybe_idle(r, backend);
                return;
        }

        if (streq(method, "notifications/progress"))
                return; /* progress for child-initiated requests: not forwarded */

        /* e.g. notifications/roots/list_changed: the child may care. */
        if (r->active)
                send_json(r, false, r->active, msg);
}

static void client_response(McpRouter *r, RouterClient *c, json_object *msg, json_object *id) {
        if (!json_object_is_type(id, json_type_int))
                return;
        ServerRequest *s = idmap_get(&r->server_requests, json_object_get_int64(id));
        if (!s || s->client != c->id)
                return;
        idmap_remove(&r->server_requests, s->agent_id);
        if (find_backend(r, s->backend)) {
                json_object_object_add(msg, "id", json_object_get(s->backend_id));
                send_json(r, false, s->backend, msg);
        }
        server_request_free(s);
}

void mcp_router_client_line(McpRouter *r, unsigned client, const char *line, size_t len) {
        RouterClient *c = find_client(r, client);
        if (!c)
                return;
        json_object *msg = parse_line(r, line, len);
        if (!msg) {
                send_error(r, true, client, NULL, MCP_ERR_PARSE, "parse error: each line must be one JSON-RPC message");
                return;
        }
        if (!json_object_is_type(msg, json_type_object)) {
                send_error(r, true, client, NULL, MCP_ERR_INVALID_REQUEST,
                           json_object_is_type(msg, json_type_array) ? "JSON-RPC batches are not supported"
                                                                      : "invalid request: not an object");
                json_object_put(msg);
                return;
        }

        json_object *method = NULL, *id = NULL;
        bool has_method = json_object_object_get_ex(msg, "method", &method) &&
                          json_object_is_type(method, json_type_string);
        bool has_id = json_object_object_get_ex(msg, "id", &id);

        if (has_method && has_id) {
                if (!valid_id(id))
                        send_error(r, true, client, NULL, MCP_ERR_INVALID_REQUEST,
                                   "invalid request: id must be a string or an integer");
                else
                        client_request(r, c, msg, json_object_get_string(method), id);
        } else if (has_method)
                client_notification(r, c, msg, json_object_get_string(method));
        else if (has_id && (json_object_object_get_ex(msg, "result", NULL) ||
                            json_object_object_get_ex(msg, "error", NULL)))
                client_response(r, c, msg, id);
        else
                send_error(r, true, client, valid_id(id) ? id : NULL, MCP_ERR_INVALID_REQUEST,
                           "invalid request: neither a request, a notification nor a response");
        json_object_put(msg);
}

static bool tool_failed(json_object *msg) {
        json_object *result = NULL, *is_error = NULL;
        if (!json_object_object_get_ex(msg, "result", &result))
                return true;
        return json_object_object_get_ex(result, "isError", &is_error) && json_object_get_boolean(is_error);
}

static void backend_response(McpRouter *r, unsigned backend, json_object *msg, json_object *id) {
        if (!json_object_is_type(id, json_type_int))
                return;
        Pending *p = idmap_get(&r->pending, json_object_get_int64(id));
        if (!p || p->backend != backend)
                return; /* cancelled or unknown: drop */
        pending_detach(r, p);

        if (p->tool && r->cb.tool_result)
                r->cb.tool_result(r->userdata, backend, p->tool, !tool_failed(msg));

        if (p->client == 0) {
                json_object *result = NULL, *error = NULL;
                (void) json_object_object_get_ex(msg, "result", &result);
                (void) json_object_object_get_ex(msg, "error", &error);
                if (!result && !error)
                        error = make_error(NULL, MCP_ERR_INVALID_REQUEST, "empty response");
                else if (error)
                        json_object_get(error);
                if (p->cb)
                        p->cb(r, p->userdata, backend, error ? NULL : result, error);
                json_object_put(error);
        } else if (find_client(r, p->client)) {
                json_object_object_add(msg, "id", json_object_get(p->client_id));
                send_json(r, true, p->client, msg);
        }
        pending_free(p);
        maybe_idle(r, backend);
}

/* To every initialized client (that asked one of the `listed` lists, if not 0). */
static void broadcast(McpRouter *r, json_object *msg, unsigned listed) {
        size_t len;
        const char *s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                          &len);
        if (!s)
                return;
        /* Copy ids first: a send may disconnect a client (slow reader). */
        size_t n = r->n_clients, k = 0;
        unsigned *ids = calloc(n ? n : 1, sizeof(unsigned));
        if (!ids)
                return;
        for (size_t i = 0; i < n; i++)
                if (r->clients[i].initialized && (!listed || (r->clients[i].listed & listed)))
                        ids[k++] = r->clients[i].id;
        for (size_t i = 0; i < k; i++)
                r->cb.send_client(r->userdata, ids[i], s, len);
        free(ids);
}

void mcp_router_notify_listers(McpRouter *r, const char *list_method, const char *notification) {
        int li = list_method_index(list_method);
        if (li < 0)
                return;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "method", json_object_new_string(notification));
        broadcast(r, o, 1u << li);
        json_object_put(o);
}

static void backend_notification(McpRouter *r, unsigned backend, json_object *msg, const char *method) {
        json_object *params = NULL;
        (void) json_object_object_get_ex(msg, "params", &params);

        if (streq(method, "notifications/progress")) {
                json_object *token = NULL;
                if (!params || !json_object_object_get_ex(params, "progressToken", &token) ||
                    !json_object_is_type(token, json_type_int))
                        return;
                Pending *p = idmap_get(&r->pending, json_object_get_int64(token));
                if (!p || p->backend != backend || p->client == 0 || !p->progress_token)
                        return;
                json_object_object_add(params, "progressToken", json_object_get(p->progress_token));
                send_json(r, true, p->client, msg);
                return;
        }

        if (streq(method, "notifications/cancelled")) {
                /* The child withdraws a request it sent to a client. */
                json_object *rid = NULL;
                if (!params || !json_object_object_get_ex(params, "requestId", &rid))
                        return;
                for (size_t i = 0; i < r->server_requests.cap; i++) {
                        if (r->server_requests.keys[i] <= 0)
                                continue;
                        ServerRequest *s = r->server_requests.values[i];
                        if (s->backend != backend || !json_object_equal(s->backend_id, rid))
                                continue;
                        idmap_remove(&r->server_requests, s->agent_id);
                        json_object_object_add(params, "requestId", json_object_new_int64(s->agent_id));
                        send_json(r, true, s->client, msg);
                        server_request_free(s);
                        return;
                }
                return;
        }

        /* list_changed, resources/updated, logging: everyone's business, but
         * only from the child that serves new requests (no duplicates). */
        if (backend == r->active)
                broadcast(r, msg, 0);
}

static void backend_request(McpRouter *r, unsigned backend, json_object *msg, const char *method, json_object *id) {
        if (streq(method, "ping")) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
                json_object_object_add(o, "id", json_object_get(id));
                json_object_object_add(o, "result", json_object_new_object());
                send_json(r, false, backend, o);
                json_object_put(o);
                return;
        }

        unsigned target = 0, n_init = 0;
        for (size_t i = 0; i < r->n_clients; i++)
                if (r->clients[i].initialized) {
                        target = r->clients[i].id;
                        n_init++;
                }
        if (backend != r->active || n_init != 1) {
                char m[160];
                snprintf(m, sizeof m,
                         "agv-agent cannot route a server-initiated %s request: %u clients attached (needs exactly one)",
                         method, n_init);
                send_error(r, false, backend, id, MCP_ERR_NOT_ROUTABLE, m);
                return;
        }

        ServerRequest *s = calloc(1, sizeof(*s));
        if (!s) {
                send_error(r, false, backend, id, MCP_ERR_NOT_ROUTABLE, "out of memory");
                return;
        }
        s->agent_id = ++r->next_id;
        s->backend = backend;
        s->client = target;
        s->backend_id = json_object_get(id);
        if (idmap_put(&r->server_requests, s->agent_id, s) < 0) {
                send_error(r, false, backend, id, MCP_ERR_NOT_ROUTABLE, "out of memory");
                server_request_free(s);
                return;
        }
        json_object_object_add(msg, "id", json_object_new_int64(s->agent_id));
        send_json(r, true, target, msg);
}

int mcp_router_backend_line(McpRouter *r, unsigned backend, const char *line, size_t len) {
        if (!find_backend(r, backend))
                return 0;
        json_object *msg = parse_line(r, line, len);
        if (!msg || !json_object_is_type(msg, json_type_object)) {
                json_object_put(msg);
                return -EBADMSG;
        }
        json_object *method = NULL, *id = NULL;
        bool has_method = json_object_object_get_ex(msg, "method", &method) &&
                          json_object_is_type(method, json_type_string);
        bool has_id = json_object_object_get_ex(msg, "id", &id) && id;
        int ret = 0;

        if (has_method && has_id)
                backend_request(r, backend, msg, json_object_get_string(method), id);
        else if (has_method)
                backend_notification(r, backend, msg, json_object_get_string(method));
        else if (has_id)
                backend_response(r, backend, msg, id);
        else
                ret = -EBADMSG;
        json_object_put(msg);
        return ret;
}

static void fail_pending(McpRouter *r, Pending *p, int code, const char *message) {
        pending_detach(r, p);
        if (p->tool && r->cb.tool_result)
                r->cb.tool_result(r->userdata, p->backend, p->tool, false);
        if (p->client == 0) {
                if (p->cb) {
                        json_object *err = make_error(NULL, code, message);
                        json_object *e = NULL;
                        (void) json_object_object_get_ex(err, "error", &e);
                        p->cb(r, p->userdata, p->backend, NULL, e);
                        json_object_put(err);
                }
        } else if (find_client(r, p->client))
                send_error(r, true, p->client, p->client_id, code, message);
}

void mcp_router_backend_oversize(McpRouter *r, unsigned backend, int64_t upstream_id) {
        Pending *p = idmap_get(&r->pending, upstream_id);
        if (!p || p->backend != backend)
                return;
        fail_pending(r, p, MCP_ERR_TOO_LARGE, "the signer's answer exceeded the agent's line limit");
        pending_free(p);
        maybe_idle(r, backend);
}

void mcp_router_backend_dead(McpRouter *r, unsigned backend, int code, const char *message) {
        RouterBackend *b = find_backend(r, backend);
        if (!b)
                return;
        if (r->active == backend)
                r->active = 0;

        void **list;
        size_t n = collect(&r->pending, &list, pending_of_backend, backend);
        for (size_t i = 0; i < n; i++) {
                fail_pending(r, list[i], code, message);
                pending_free(list[i]);
        }
        free(list);

        n = collect(&r->server_requests, &list, sreq_of_backend, backend);
        for (size_t i = 0; i < n; i++) {
                ServerRequest *s = list[i];
                idmap_remove(&r->server_requests, s->agent_id);
                json_object *note = cancelled_notification(s->agent_id, "signer child exited");
                if (find_client(r, s->client))
                        send_json(r, true, s->client, note);
                json_object_put(note);
                server_request_free(s);
        }
        free(list);

        b = find_backend(r, backend);
        if (b) {
                json_object_put(b->init);
                size_t idx = (size_t) (b - r->backends);
                memmove(b, b + 1, (r->n_backends - idx - 1) * sizeof(*b));
                r->n_backends--;
        }
}

void mcp_router_set_request_timeout(McpRouter *r, uint64_t timeout) {
        r->request_timeout = timeout;
}

static bool pending_has_deadline(void *v, unsigned a) {
        return ((Pending *) v)->deadline > 0;
}

uint64_t mcp_router_expire(McpRouter *r, uint64_t now) {
        uint64_t next = USEC_INFINITY;
        char msg[160], d[32];
        void **list;
        size_t n = collect(&r->pending, &list, pending_has_deadline, 0);

        snprintf(msg, sizeof msg, "the signer did not answer within %s ([child] request_timeout); request cancelled",
                 format_duration(r->request_timeout, d, sizeof d));
        for (size_t i = 0; i < n; i++) {
                Pending *p = list[i];
                if (p->deadline > now) {
                        next = MIN(next, p->deadline);
                        continue;
                }
                /* The child may stop working on it; its late answer is dropped. */
                json_object *note = cancelled_notification(p->upstream_id, "request timed out");
                send_json(r, false, p->backend, note);
                json_object_put(note);
                unsigned backend = p->backend;
                fail_pending(r, p, MCP_ERR_TIMEOUT, msg);
                pending_free(p);
                maybe_idle(r, backend);
        }
        free(list);
        return next;
}

int64_t mcp_router_internal_request(McpRouter *r, unsigned backend, const char *method, json_object *params,
                                    McpInternalCallback cb, void *userdata) {
        RouterBackend *b = find_backend(r, backend);
        if (!b)
                return -ENOENT;
        Pending *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->upstream_id = ++r->next_id;
        p->backend = backend;
        p->cb = cb;
        p->userdata = userdata;
        json_object *name = NULL;
        if (streq(method, "tools/call") && params && json_object_object_get_ex(params, "name", &name))
                p->tool = strdup(json_object_get_string(name));
        if (idmap_put(&r->pending, p->upstream_id, p) < 0) {
                pending_free(p);
                return -ENOMEM;
        }
        b->n_pending++;

        json_object *o = json_object_new_object();
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "id", json_object_new_int64(p->upstream_id));
        json_object_object_add(o, "method", json_object_new_string(method));
        if (params)
                json_object_object_add(o, "params", json_object_get(params));
        int64_t id = p->upstream_id;
        send_json(r, false, backend, o);
        json_object_put(o);
        return id;
}

void mcp_router_internal_notify(McpRouter *r, unsigned backend, const char *method, json_object *params) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "method", json_object_new_string(method));
        if (params)
                json_object_object_add(o, "params", json_object_get(params));
        send_json(r, false, backend, o);
        json_object_put(o);
}

int mcp_find_trailing_id(const char *tail, size_t len, int64_t *ret) {
        /* Look for the last "id": followed by an integer and then only
         * whitespace and closing braces: the shape of a response whose id
         * comes last, as the MCP SDKs write it. Also accept a leading id. */
        static const char key[] = "\"id\":";
        const size_t kl = sizeof(key) - 1;
        for (size_t i = len; i >= kl && i > 0; i--) {
                size_t start = i - kl;
                if (memcmp(tail + start, key, kl) != 0)
                        continue;
                size_t j = i;
                while (j < len && tail[j] == ' ')
                        j++;
                int64_t v = 0;
                size_t digits = 0;
                while (j < len && tail[j] >= '0' && tail[j] <= '9' && digits < 18) {
                        v = v * 10 + (tail[j] - '0');
                        j++;
                        digits++;
                }
                if (digits == 0)
                        continue;
                if (j < len && !strchr(" ,}\r\n", tail[j]))
                        continue;
                *ret = v;
                return 0;
        }
        return -ENOENT;
}
