// CVigilPrefetch is header-only (see include/CVigilPrefetch.h); SwiftPM wants one source file.
#include "CVigilPrefetch.h"
