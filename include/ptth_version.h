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

#ifndef PTTH_VERSION_H
#define PTTH_VERSION_H

/* The version of both modules, the one place it is written: the backend
 * logs it in post_config ("mod_ptth_backend/<version> started"), the
 * router's hub when it starts ("mod_ptth_router/<version> hub started").
 * build/debian/changelog must name the same (t/95-debian-package.t). */
#define MOD_PTTH_VERSION "0.1.0"

#endif /* PTTH_VERSION_H */
