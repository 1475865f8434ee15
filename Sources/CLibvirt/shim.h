#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* VIR_DOMAIN_EVENT_CALLBACK is a function-pointer cast macro that Swift cannot import.
   Returns the callback id for virConnectDomainEventDeregisterAny, or -1; libvirt calls
   `freecb(opaque)` once the callback is deregistered. */
static inline int construir_register_lifecycle_callback(virConnectPtr conn,
                                                        virConnectDomainEventCallback callback,
                                                        void *opaque, virFreeCallback freecb) {
    return virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(callback), opaque, freecb);
}

/* Silences libvirt's default error printer: construir reports errors itself. */
static void construir_ignore_libvirt_error(void *userData, virErrorPtr error) {
    (void)userData; (void)error;
}
static inline void construir_silence_libvirt_errors(void) {
    virSetErrorFunc(NULL, construir_ignore_libvirt_error);
}
