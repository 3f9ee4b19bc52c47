#ifndef VIGIL_CSQLITE3_SHIM_H
#define VIGIL_CSQLITE3_SHIM_H
#include <sqlite3.h>
/* SQLITE_TRANSIENT / SQLITE_STATIC are casts of -1 / 0 to a function pointer: Swift does not
   import them. Re-export as real symbols. */
static inline sqlite3_destructor_type vigil_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type vigil_sqlite_static(void) { return SQLITE_STATIC; }
#endif
