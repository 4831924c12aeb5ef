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

#ifndef PTTH_LOG_H
#define PTTH_LOG_H

/* Log message tags.
 *
 * httpd's "AHnnnnn" numbers are assigned centrally for modules shipped with
 * httpd (docs/log-message-tags/README), so mod_ptth uses its own prefix:
 * PTTHLOGNO(n) expands to "PTTHnnnnn: ".  Ranges:
 *   00001-00999  shared code (common/)
 *   01000-01999  mod_ptth_router: config, hub supervision, proxy handler
 *   02000-02999  mod_ptth_router: hub, tunnels, links
 *   03000-03999  mod_ptth_backend
 * A number is never reused; `make lognos` checks uniqueness.
 */
#define PTTHLOGNO(n) "PTTH" #n ": "

#endif /* PTTH_LOG_H */
