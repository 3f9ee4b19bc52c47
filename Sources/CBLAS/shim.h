#ifndef VIGIL_CBLAS_SHIM_H
#define VIGIL_CBLAS_SHIM_H
#include <stddef.h>
/* Use the struct form of openblas_complex_* so <complex.h> / _Complex never reach Swift. */
#define FORCE_OPENBLAS_COMPLEX_STRUCT 1
#include <cblas.h>

/* LAPACK's Fortran entry points are exported by libopenblas itself (Debian's OpenBLAS has
   LAPACK but is built with NO_LAPACKE=1, so no LAPACKE_* symbols). gfortran passes the
   length of each CHARACTER argument as a trailing hidden size_t: declare it and pass 1. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_len);
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, int *info, size_t uplo_len);
void dgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, double *work, const int *lwork, int *info, size_t trans_len);
#endif
