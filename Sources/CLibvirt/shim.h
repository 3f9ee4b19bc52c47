#ifndef VIGIL_CLIBVIRT_SHIM_H
#define VIGIL_CLIBVIRT_SHIM_H
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt's default error handler prints every error to stderr; Vigil logs them itself (with
   virGetLastErrorMessage on the thread that made the call). */
static void vigil_libvirt_ignore_error(void *data, virErrorPtr err) { (void)data; (void)err; }
static inline void vigil_libvirt_silence_errors(void) { virSetErrorFunc((void *)0, vigil_libvirt_ignore_error); }

/* virTypedParameter's name is a char[80] and its value a union: read them without tuple gymnastics. */
static inline const char *vigil_param_field(const virTypedParameter *p) { return p->field; }
/* The numeric value as a double; returns 0 when the parameter is a string (then *ok = 0). */
static inline double vigil_param_number(const virTypedParameter *p, int *ok) {
    *ok = 1;
    switch (p->type) {
    case VIR_TYPED_PARAM_INT: return (double)p->value.i;
    case VIR_TYPED_PARAM_UINT: return (double)p->value.ui;
    case VIR_TYPED_PARAM_LLONG: return (double)p->value.l;
    case VIR_TYPED_PARAM_ULLONG: return (double)p->value.ul;
    case VIR_TYPED_PARAM_DOUBLE: return p->value.d;
    case VIR_TYPED_PARAM_BOOLEAN: return p->value.b ? 1.0 : 0.0;
    default: *ok = 0; return 0;
    }
}
static inline const char *vigil_param_string(const virTypedParameter *p) {
    return p->type == VIR_TYPED_PARAM_STRING ? p->value.s : (const char *)0;
}
static inline int vigil_uuid_string_buflen(void) { return VIR_UUID_STRING_BUFLEN; }
#endif
