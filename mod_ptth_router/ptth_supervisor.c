/* Licensed to the Apache Software Foundation (ASF) under one or more
 * contributor license agreements; and licensed under the Apache License,
 * Version 2.0 (the "License"); you may not use this file except in
 * compliance with the License.  You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* The httpd parent's side of the hub (docs/architecture.md, "The hub"):
 * open the tunnel listeners and the hub's Unix socket, fork the hub,
 * restart it when it dies, and hand over to a new hub on graceful
 * restart.
 *
 * Sockets are created on the process pool, which survives restarts (as
 * httpd's own listeners do, server/listen.c): tunnels keep their port and
 * children keep their socket path across generations; a restarted hub
 * inherits both, so a hub crash loses in-flight streams but no listener.
 * The hub is registered as an "other child" (the way mod_cgid supervises
 * its daemon): the MPM reports its death and we fork a new one. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <apr_strings.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_main.h>
#include <http_core.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <unixd.h>

#include "ptth_router.h"
#include "ptth_router_config.h"
#include "ptth_hub.h"
#include "ptth_tls.h"
#include "ptth_unix.h"

#define SUP_KEY "ptth_router_supervisor"

/* A listening socket kept across generations. */
typedef struct sup_lsock {
    apr_pool_t *p;            /* own subpool of the process pool */
    apr_socket_t *sock;
    const char *host;
    apr_port_t port;
    int in_use;
} sup_lsock;

/* A hub process, as the supervisor remembers it across generations
 * (in the process pool; slots are reused). */
typedef struct sup_hub_rec {
    pid_t pid;
    int generation;
    int alive;                /* ours to watch (not yet reaped or handed
                               * to the MPM) */
    int standby;              /* waits to take over from the active hub */
    int life_rd;              /* read end of its life pipe, or -1 */
    apr_time_t active_since;
} sup_hub_rec;

/* Its registration as an "other child" of this generation (in pconf). */
typedef struct sup_hub {
    apr_proc_t proc;
    sup_hub_rec *rec;
} sup_hub;

typedef struct ptth_sup {
    apr_pool_t *ppool;              /* process pool */
    apr_array_header_t *lsocks;     /* of sup_lsock * */
    apr_pool_t *link_p;
    apr_socket_t *link_sock;
    const char *link_path;
    int generation;
    /* current generation */
    server_rec *s;
    apr_pool_t *pconf;
    apr_array_header_t *lspecs;     /* of ptth_hub_lspec */
    sup_hub *hub;                   /* the active hub */
    sup_hub *standby;               /* the hub waiting to take over */
    apr_array_header_t *hubs;       /* of sup_hub_rec *, every generation */
    apr_time_t last_start;
    apr_interval_time_t restart_delay;
} ptth_sup;

/* Every generation runs an active hub and a standby, a second hub forked
 * alongside that blocks on the active hub's life pipe: when the active
 * hub dies, the pipe's write end closes with it and the standby takes
 * over at once, without waiting for the MPM, which reports a death about
 * once a second; the parent then forks the next standby.  A hub that
 * dies within PTTH_HUB_STABLE_AFTER of becoming active makes the next
 * one wait before it serves, a pause that doubles each time up to the
 * maximum (docs/architecture.md, "The hub"). */
#define PTTH_HUB_STABLE_AFTER   apr_time_from_sec(10)
#define PTTH_HUB_RESTART_MIN    apr_time_from_msec(250)
#define PTTH_HUB_RESTART_MAX    apr_time_from_sec(10)

static const char *link_path_g;

const char *ptth_router_link_path(void)
{
    return link_path_g;
}

static apr_status_t open_tunnel_listener(ptth_sup *sup, const ptth_router_listener *l,
                                         server_rec *s, sup_lsock **pls)
{
    sup_lsock *ls;
    apr_sockaddr_t *sa;
    apr_status_t rv;
    apr_pool_t *p;

    apr_pool_create(&p, sup->ppool);
    ls = apr_pcalloc(p, sizeof(*ls));
    ls->p = p;
    ls->host = l->host ? apr_pstrdup(p, l->host) : NULL;
    ls->port = l->port;
    if ((rv = apr_sockaddr_info_get(&sa, l->host, l->host ? APR_UNSPEC : APR_INET,
                                    l->port, 0, p)) != APR_SUCCESS
        || (rv = apr_socket_create(&ls->sock, sa->family, SOCK_STREAM,
                                   APR_PROTO_TCP, p)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTTHLOGNO(01101)
                     "PTTHListen %s: cannot create a socket", l->addr);
        apr_pool_destroy(p);
        return rv;
    }
    apr_socket_opt_set(ls->sock, APR_SO_REUSEADDR, 1);
    if ((rv = apr_socket_bind(ls->sock, sa)) != APR_SUCCESS
        || (rv = apr_socket_listen(ls->sock, 511)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTTHLOGNO(01102)
                     "PTTHListen %s: cannot listen", l->addr);
        apr_pool_destroy(p);
        return rv;
    }
    apr_socket_opt_set(ls->sock, APR_SO_NONBLOCK, 1);
    *pls = ls;
    return APR_SUCCESS;
}

/* RFC 7301: the handshake is HTTP/1.1; pick it when the backend offers
 * ALPN, carry on without ALPN otherwise. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;

    (void)ssl; (void)arg;
    while (i < inlen) {
        unsigned int n = in[i];
        if (i + 1 + n > inlen) {
            break;
        }
        if (n == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
            *out = in + i + 1;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static apr_status_t free_ctx(void *data)
{
    SSL_CTX_free(data);
    return APR_SUCCESS;
}

static const char *tls_server_ctx(apr_pool_t *pconf, const ptth_router_listener *l,
                                  SSL_CTX **pctx)
{
    const char *err = NULL;
    SSL_CTX *ctx = ptth_tls_ctx_new(pconf, 1, &err);

    if (!ctx) {
        return err;
    }
    apr_pool_cleanup_register(pconf, ctx, free_ctx, apr_pool_cleanup_null);
    if ((err = ptth_tls_ctx_use_cert(pconf, ctx, l->cert_file, l->key_file,
                                     l->chain_file))) {
        return err;
    }
    if (l->client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(l->client_ca);
        if ((err = ptth_tls_ctx_trust(pconf, ctx, l->client_ca))) {
            return err;
        }
        if (names) {
            SSL_CTX_set_client_CA_list(ctx, names);
        }
        /* Ask for a certificate, refuse a bad one in TLS; a backend
         * without one may still authenticate with a token. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    *pctx = ctx;
    return NULL;
}

static apr_status_t reconcile_listeners(ptth_sup *sup, server_rec *s,
                                        ptth_router_sconf *conf, apr_pool_t *pconf)
{
    int i, j, k;

    sup->lspecs = apr_array_make(pconf, conf->listeners->nelts, sizeof(ptth_hub_lspec));
    for (i = 0; i < sup->lsocks->nelts; ++i) {
        APR_ARRAY_IDX(sup->lsocks, i, sup_lsock *)->in_use = 0;
    }
    for (i = 0; i < conf->listeners->nelts; ++i) {
        const ptth_router_listener *l =
            &APR_ARRAY_IDX(conf->listeners, i, ptth_router_listener);
        sup_lsock *ls = NULL;
        ptth_hub_lspec *spec;

        for (j = 0; j < sup->lsocks->nelts; ++j) {
            sup_lsock *o = APR_ARRAY_IDX(sup->lsocks, j, sup_lsock *);
            if (!o->in_use && o->port == l->port
                && ((!o->host && !l->host) || (o->host && l->host
                                               && !strcmp(o->host, l->host)))) {
                ls = o;
                break;
            }
        }
        if (!ls) {
            apr_status_t rv = open_tunnel_listener(sup, l, s, &ls);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            APR_ARRAY_PUSH(sup->lsocks, sup_lsock *) = ls;
        }
        ls->in_use = 1;
        spec = apr_array_push(sup->lspecs);
        spec->sock = ls->sock;
        spec->addr = l->addr;
        spec->pool_name = l->plain_pool;
        spec->pools = l->pools;
        spec->tls = NULL;
        if (l->cert_file) {
            const char *err = tls_server_ctx(pconf, l, &spec->tls);
            if (err) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, PTTHLOGNO(01111)
                             "PTTHListen %s: %s", l->addr, err);
                return APR_EGENERAL;
            }
        }
    }
    /* Close what the new configuration no longer names (in place: the
     * array lives in the process pool, across every restart). */
    for (i = k = 0; i < sup->lsocks->nelts; ++i) {
        sup_lsock *ls = APR_ARRAY_IDX(sup->lsocks, i, sup_lsock *);
        if (ls->in_use) {
            APR_ARRAY_IDX(sup->lsocks, k++, sup_lsock *) = ls;
        }
        else {
            apr_socket_close(ls->sock);
            apr_pool_destroy(ls->p);
        }
    }
    sup->lsocks->nelts = k;
    return APR_SUCCESS;
}

static apr_status_t open_link_socket(ptth_sup *sup, server_rec *s, const char *path)
{
    const char *what;
    apr_status_t rv;

    if (sup->link_sock) {
        if (!strcmp(sup->link_path, path)) {
            return APR_SUCCESS;
        }
        apr_socket_close(sup->link_sock);
        unlink(sup->link_path);
        apr_pool_destroy(sup->link_p);
        sup->link_sock = NULL;
    }
    /* Only httpd's children (running as User) may talk to the hub; the
     * socket is CLOEXEC: CGI and piped loggers must never hold it
     * (children close their inherited copy in child_init, see below). */
    apr_pool_create(&sup->link_p, sup->ppool);
    rv = ptth_unix_listen(&sup->link_sock, path, ap_unixd_config.user_id, 511,
                          sup->link_p, &what);
    if (rv != APR_SUCCESS) {
        if (rv == APR_ENAMETOOLONG) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, PTTHLOGNO(01103)
                         "PTTHHubSocket: '%s' is too long for a Unix socket",
                         path);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, PTTHLOGNO(01104)
                         "cannot %s the hub socket %s (PTTHHubSocket, "
                         "DefaultRuntimeDir)", what, path);
        }
        apr_pool_destroy(sup->link_p);
        sup->link_p = NULL;
        sup->link_sock = NULL;
        return rv;
    }
    sup->link_path = apr_pstrdup(sup->link_p, path);
    return APR_SUCCESS;
}

static void hub_maintenance(int reason, void *data, apr_wait_t status);

static ptth_sup *sup_g;

/* Watch a hub for this generation: the registration lives in pconf, like
 * mod_cgid's daemon, because the callback is module code, which httpd
 * unloads and reloads on every restart.  Hubs of earlier generations
 * that are still draining are registered again in each new generation,
 * so the MPM hands their exit to us instead of reporting a "long lost
 * child". */
static void watch_hub(ptth_sup *sup, sup_hub_rec *rec)
{
    sup_hub *hub = apr_pcalloc(sup->pconf, sizeof(*hub));

    hub->proc.pid = rec->pid;
    hub->rec = rec;
    apr_proc_other_child_register(&hub->proc, hub_maintenance, hub, NULL,
                                  sup->pconf);
    if (rec->generation == sup->generation) {
        if (rec->standby) {
            sup->standby = hub;
        }
        else {
            sup->hub = hub;
        }
    }
}

static sup_hub_rec *new_hub_rec(ptth_sup *sup)
{
    sup_hub_rec *rec = NULL;
    int i;

    for (i = 0; i < sup->hubs->nelts && !rec; ++i) {
        sup_hub_rec *r = APR_ARRAY_IDX(sup->hubs, i, sup_hub_rec *);
        if (!r->alive) {
            rec = r;
        }
    }
    if (!rec) {
        rec = apr_pcalloc(sup->ppool, sizeof(*rec));
        APR_ARRAY_PUSH(sup->hubs, sup_hub_rec *) = rec;
    }
    memset(rec, 0, sizeof(*rec));
    rec->generation = sup->generation;
    rec->alive = 1;
    rec->life_rd = -1;
    return rec;
}

static void close_life(sup_hub_rec *rec)
{
    if (rec->life_rd >= 0) {
        close(rec->life_rd);
        rec->life_rd = -1;
    }
}

/* Fork a hub: active, or (watch given) the standby of that hub, which
 * serves once watch's life pipe reports its end and then delay passed. */
static apr_status_t start_hub(ptth_sup *sup, sup_hub_rec *watch,
                              apr_interval_time_t delay)
{
    sup_hub_rec *rec;
    int life[2];
    pid_t pid;

    if (pipe2(life, O_CLOEXEC) != 0) {
        apr_status_t rv = errno;
        ap_log_error(APLOG_MARK, APLOG_ALERT, rv, sup->s, PTTHLOGNO(01113)
                     "cannot create a pipe for the tunnel hub");
        return rv;
    }
    pid = fork();
    if (pid < 0) {
        apr_status_t rv = errno;
        close(life[0]);
        close(life[1]);
        ap_log_error(APLOG_MARK, APLOG_ALERT, rv, sup->s, PTTHLOGNO(01106)
                     "cannot fork the tunnel hub");
        return rv;
    }
    if (pid == 0) {
        apr_pool_t *hp;
        int rc;

        /* life[1] stays open for as long as this process lives. */
        close(life[0]);
        apr_pool_create(&hp, sup->pconf);
        apr_pool_tag(hp, "ptth_hub");
        if ((rc = ap_run_drop_privileges(hp, sup->s)) != 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, 0, sup->s, PTTHLOGNO(01107)
                         "tunnel hub: cannot drop privileges");
            exit(APEXIT_CHILDFATAL);
        }
        ptth_hub_main(hp, sup->s, sup->lspecs, sup->link_sock,
                      (apr_uint32_t)sup->generation,
                      watch ? watch->life_rd : -1, delay);
        exit(0); /* not reached */
    }
    close(life[1]);
    rec = new_hub_rec(sup);
    rec->pid = pid;
    rec->life_rd = life[0];
    rec->standby = watch != NULL;
    if (!watch) {
        rec->active_since = apr_time_now();
    }
    watch_hub(sup, rec);
    return APR_SUCCESS;
}

/* The pause before the next hub serves, from how long the last lived. */
static apr_interval_time_t restart_delay(ptth_sup *sup, apr_time_t lived_since)
{
    if (apr_time_now() - lived_since < PTTH_HUB_STABLE_AFTER) {
        sup->restart_delay = sup->restart_delay
            ? (sup->restart_delay * 2 > PTTH_HUB_RESTART_MAX
               ? PTTH_HUB_RESTART_MAX : sup->restart_delay * 2)
            : PTTH_HUB_RESTART_MIN;
    }
    else {
        sup->restart_delay = 0;
    }
    return sup->restart_delay;
}

/* Stop a hub that httpd no longer needs (httpd stops or restarts hard)
 * and reap it here.  A hub leaves within milliseconds of SIGTERM (it
 * closes its sockets and exits); one that does not is killed.  It is not
 * handed to the MPM as an "extra process": the MPM files those under its
 * own generation numbers and logs AH00546 ("no record of generation") for
 * a hub, an error an administrator would see at every stop. */
#define PTTH_HUB_STOP_GRACE apr_time_from_sec(3)

static void stop_and_reap(sup_hub_rec *rec)
{
    apr_time_t until = apr_time_now() + PTTH_HUB_STOP_GRACE;
    int status;

    rec->alive = 0;
    if (kill(rec->pid, SIGTERM) != 0) {
        return;                      /* already reaped by someone else */
    }
    for (;;) {
        pid_t r = waitpid(rec->pid, &status, WNOHANG);
        if (r == rec->pid || (r < 0 && errno != EINTR)) {
            return;
        }
        if (apr_time_now() >= until) {
            break;
        }
        apr_sleep(apr_time_from_msec(10));
    }
    kill(rec->pid, SIGKILL);
    while (waitpid(rec->pid, &status, 0) < 0 && errno == EINTR) {
    }
}

static void hub_maintenance(int reason, void *data, apr_wait_t status)
{
    sup_hub *hub = data;
    sup_hub_rec *rec = hub->rec;
    ptth_sup *sup = sup_g;
    int mpm_state = AP_MPMQ_STOPPING;
    int active = sup && hub == sup->hub;
    int standby = sup && hub == sup->standby;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        rec->alive = 0;
        close_life(rec);
        apr_proc_other_child_unregister(hub);
        ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
        if ((active || standby) && mpm_state != AP_MPMQ_STOPPING) {
            apr_interval_time_t delay = restart_delay(sup, active
                ? rec->active_since : apr_time_now() - PTTH_HUB_STABLE_AFTER);
            sup_hub *next = active ? sup->standby : NULL;

            ap_log_error(APLOG_MARK, active ? APLOG_ERR : APLOG_WARNING, 0,
                         sup->s, PTTHLOGNO(01108)
                         "%s tunnel hub (pid %" APR_PID_T_FMT ") died (%s %d)%s",
                         active ? "the" : "the standby", hub->proc.pid,
                         WIFSIGNALED(status) ? "signal" : "exit status",
                         WIFSIGNALED(status) ? WTERMSIG(status)
                                             : WEXITSTATUS(status),
                         next ? "; its standby took over" : "");
            if (active) {
                sup->hub = NULL;
                if (next) {
                    /* It woke when the pipe closed; it is the hub now. */
                    next->rec->standby = 0;
                    next->rec->active_since = apr_time_now();
                    sup->hub = next;
                    sup->standby = NULL;
                }
                else if (start_hub(sup, NULL, delay) != APR_SUCCESS) {
                    break;
                }
            }
            else {
                sup->standby = NULL;
            }
            if (sup->hub && !sup->standby) {
                if (delay) {
                    ap_log_error(APLOG_MARK, APLOG_ERR, 0, sup->s, PTTHLOGNO(01114)
                                 "the next tunnel hub will wait %" APR_TIME_T_FMT
                                 " ms before it serves (hubs died young)",
                                 apr_time_as_msec(delay));
                }
                start_hub(sup, sup->hub->rec, delay);
            }
        }
        else if (sup) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, sup->s, PTTHLOGNO(01112)
                         "tunnel hub (pid %" APR_PID_T_FMT ") of generation "
                         "%d has exited", hub->proc.pid, rec->generation);
        }
        break;
    case APR_OC_REASON_RESTART:
        /* The MPM reclaims its children: httpd stops or restarts hard. */
        if (rec->alive) {
            stop_and_reap(rec);
        }
        apr_proc_other_child_unregister(hub);
        break;
    case APR_OC_REASON_UNREGISTER:
        /* pconf goes away: a graceful restart (the active hub drains and
         * makes room for the next generation's; hubs still draining are
         * watched again by the next generation) or the end of httpd.
         * The standby is told to drain too, not to stop: if the active
         * hub died since the MPM last reported (about once a second),
         * the standby has taken over and holds requests in flight; one
         * still waiting just leaves (ptth_hub.c, standby_wait). */
        if (rec->alive) {
            if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING) {
                stop_and_reap(rec);
            }
            else if (active || standby) {
                if (sup) {
                    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, sup->s,
                                 PTTHLOGNO(01110) "tunnel hub (pid %"
                                 APR_PID_T_FMT ") of generation %d: %s",
                                 hub->proc.pid, rec->generation,
                                 active ? "draining"
                                        : "standby draining (or leaving)");
                }
                kill(rec->pid, SIGUSR1);
            }
        }
        if (active) {
            sup->hub = NULL;
        }
        if (standby) {
            sup->standby = NULL;
        }
        break;
    default:
        break;
    }
}

/* In every httpd child: the hub's sockets are the hub's.  A child (and
 * whatever runs in it or is started from it) must not accept links or
 * tunnels (docs/architecture.md, "Who may talk to the hub"). */
void ptth_supervisor_child_init(apr_pool_t *pchild, server_rec *s)
{
    ptth_sup *sup = sup_g;
    int i;

    (void)pchild; (void)s;
    if (!sup) {
        return;
    }
    if (sup->link_sock) {
        apr_socket_close(sup->link_sock);
        sup->link_sock = NULL;
    }
    for (i = 0; i < sup->hubs->nelts; ++i) {
        close_life(APR_ARRAY_IDX(sup->hubs, i, sup_hub_rec *));
    }
    for (i = 0; i < sup->lsocks->nelts; ++i) {
        sup_lsock *ls = APR_ARRAY_IDX(sup->lsocks, i, sup_lsock *);
        if (ls->sock) {
            apr_socket_close(ls->sock);
            ls->sock = NULL;
        }
    }
}

/* The hub socket's path goes with httpd, not with a generation. */
static apr_status_t unlink_at_exit(void *data)
{
    ptth_sup *sup = data;

    if (sup->link_path && ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING) {
        unlink(sup->link_path);
    }
    return APR_SUCCESS;
}

int ptth_hub_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                         apr_pool_t *ptemp, server_rec *s)
{
    ptth_router_sconf *conf = ptth_router_sconf_get(s);
    ptth_sup *sup;
    void *data = NULL;
    const char *path;

    (void)plog; (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    apr_pool_userdata_get(&data, SUP_KEY, s->process->pool);
    sup = data;
    if (!sup) {
        sup = apr_pcalloc(s->process->pool, sizeof(*sup));
        sup->ppool = s->process->pool;
        sup->lsocks = apr_array_make(sup->ppool, 4, sizeof(sup_lsock *));
        sup->hubs = apr_array_make(sup->ppool, 4, sizeof(sup_hub_rec *));
        apr_pool_userdata_set(sup, SUP_KEY, apr_pool_cleanup_null, s->process->pool);
    }
    sup_g = sup;
    sup->generation = ap_state_query(AP_SQ_CONFIG_GEN);
    sup->s = s;
    sup->pconf = pconf;
    sup->hub = sup->standby = NULL;
    {
        /* Hubs of earlier generations still draining: watch them again. */
        int i;
        for (i = 0; i < sup->hubs->nelts; ++i) {
            sup_hub_rec *rec = APR_ARRAY_IDX(sup->hubs, i, sup_hub_rec *);
            if (rec->alive) {
                watch_hub(sup, rec);
            }
        }
    }

    if (reconcile_listeners(sup, s, conf, pconf) != APR_SUCCESS) {
        return !OK;
    }
    if (!conf->listeners->nelts) {
        sup->hub = NULL;
        link_path_g = NULL;
        return OK;
    }
    path = conf->hub_socket ? conf->hub_socket
         : ap_runtime_dir_relative(pconf, apr_psprintf(pconf, "ptth-hub.%"
                                   APR_PID_T_FMT ".sock", getpid()));
    if (open_link_socket(sup, s, path) != APR_SUCCESS) {
        return !OK;
    }
    link_path_g = sup->link_path;
    apr_pool_cleanup_register(pconf, sup, unlink_at_exit, apr_pool_cleanup_null);

    /* The previous generation's hub was told to drain when its pconf
     * went (hub_maintenance); until this one accepts, children's
     * connects and backends' dials wait in the shared sockets' backlogs. */
    sup->hub = sup->standby = NULL;
    sup->restart_delay = 0;
    if (start_hub(sup, NULL, 0) != APR_SUCCESS) {
        return !OK;
    }
    /* Without a standby the MPM's report of a death (once a second) would
     * be the wait; the hub itself is complete without one. */
    start_hub(sup, sup->hub->rec, 0);
    return OK;
}
