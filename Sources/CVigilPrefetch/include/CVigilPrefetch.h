#ifndef CVIGIL_PREFETCH_H
#define CVIGIL_PREFETCH_H

/// Hints the CPU to load the cache line holding `p` for writing (the head's append path prefetches
/// the series and the tail of its open chunk a few samples ahead: those two cache misses were most
/// of an append's time). Never faults, whatever `p` is.
static inline void vigil_prefetch(const void *p) { __builtin_prefetch(p, 1, 3); }

#endif
