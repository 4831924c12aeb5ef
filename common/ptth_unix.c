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

/* Unix-domain stream sockets, see include/ptth_unix.h. */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "ptth_unix.h"

static apr_status_t unix_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    if (strlen(path) >= sizeof(sa->sun_path)) {
        return APR_ENAMETOOLONG;
    }
    sa->sun_family = AF_UNIX;
    apr_cpystrn(sa->sun_path, path, sizeof(sa->sun_path));
    return APR_SUCCESS;
}

/* The descriptor as a non-blocking apr_socket_t in p (not closed with p:
 * the callers close their sockets themselves). */
static apr_status_t unix_wrap(apr_socket_t **psock, int fd, apr_pool_t *p)
{
    apr_os_sock_t osd = fd;
    apr_status_t rv;

    *psock = NULL;
    rv = apr_os_sock_put(psock, &osd, p);
    if (rv != APR_SUCCESS) {
        close(fd);
        return rv;
    }
    /* Non-blocking for APR too (O_NONBLOCK, timeout 0): the callers do
     * their own waiting. */
    rv = apr_socket_timeout_set(*psock, 0);
    if (rv != APR_SUCCESS) {
        apr_socket_close(*psock);
        *psock = NULL;
    }
    return rv;
}

apr_status_t ptth_unix_listen(apr_socket_t **psock, const char *path,
                              apr_uid_t owner, int backlog, apr_pool_t *p,
                              const char **what)
{
    struct sockaddr_un sa;
    apr_status_t rv;
    int fd;

    *what = "name";
    if ((rv = unix_addr(&sa, path)) != APR_SUCCESS) {
        return rv;
    }
    /* A stale socket from a crashed httpd would make bind fail. */
    unlink(path);
    *what = "create";
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    *what = "bind";
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        goto failed;
    }
    *what = "chmod";
    if (chmod(path, S_IRUSR | S_IWUSR) < 0) {
        goto failed;
    }
    *what = "chown";
    if (owner != (apr_uid_t)-1 && geteuid() == 0
        && chown(path, owner, (gid_t)-1) < 0) {
        goto failed;
    }
    *what = "listen";
    if (listen(fd, backlog) < 0) {
        goto failed;
    }
    *what = "use";
    return unix_wrap(psock, fd, p);

failed:
    rv = APR_FROM_OS_ERROR(errno);
    close(fd);
    return rv;
}

apr_status_t ptth_unix_connect(apr_socket_t **psock, const char *path,
                               apr_pool_t *p)
{
    struct sockaddr_un sa;
    apr_status_t rv;
    int fd;

    if ((rv = unix_addr(&sa, path)) != APR_SUCCESS) {
        return rv;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    /* A Unix socket connects at once or fails; EAGAIN is a full backlog. */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINTR) {
            rv = APR_FROM_OS_ERROR(errno);
            close(fd);
            return rv;
        }
    }
    return unix_wrap(psock, fd, p);
}
