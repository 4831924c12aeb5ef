/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#ifndef PTTH_VERSION_H
#define PTTH_VERSION_H

#define MOD_PTTH_VERSION "0.1.0"

#endif /* PTTH_VERSION_H */
