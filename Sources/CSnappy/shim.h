#ifndef VIGIL_CSNAPPY_SHIM_H
#define VIGIL_CSNAPPY_SHIM_H
#include <snappy-c.h>   /* C API of the C++ library; libsnappy.so pulls libstdc++ itself */
#endif
