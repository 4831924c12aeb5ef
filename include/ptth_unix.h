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

#ifndef PTTH_UNIX_H
#define PTTH_UNIX_H

/* Unix-domain stream sockets (common/ptth_unix.c): APR 1.x cannot bind or
 * connect one, so these wrap the system calls and hand back an
 * apr_socket_t.  mod_ptth_router's hub listens on one (ptth_supervisor.c)
 * and its httpd children connect to it (ptth_link_child.c).
 *
 * Both sockets are close-on-exec (CGI and piped loggers must never hold
 * them) and non-blocking, also for APR (timeout 0).  They are not closed
 * with p: the caller closes them with apr_socket_close(). */

#include <apr_network_io.h>
#include <apr_pools.h>

/**
 * Listen on a Unix stream socket at path.  A socket file left there (by a
 * crashed httpd) is removed first.  The file gets mode 0600 and, when
 * owner is not (apr_uid_t)-1 and this process is root, that owner, before
 * the socket listens: nobody else can connect, not even for a moment.
 * @param what  on failure, the call that failed ("bind", "chown", ...),
 *              for the caller's log
 * @return APR_SUCCESS; APR_ENAMETOOLONG when path does not fit in a
 *         sockaddr_un; else the error of the failed call
 */
apr_status_t ptth_unix_listen(apr_socket_t **psock, const char *path,
                              apr_uid_t owner, int backlog, apr_pool_t *p,
                              const char **what);

/**
 * Connect to the Unix stream socket at path.  A Unix socket connects at
 * once or fails: APR_ENOENT or APR_ECONNREFUSED (nobody listens there),
 * APR_EAGAIN (its backlog is full), APR_ENAMETOOLONG.
 */
apr_status_t ptth_unix_connect(apr_socket_t **psock, const char *path,
                               apr_pool_t *p);

#endif /* PTTH_UNIX_H */
