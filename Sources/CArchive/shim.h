#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

/* Macros with casts are not imported into Swift: re-export the ones used. */
static inline unsigned int construir_ae_ifmt(void) { return AE_IFMT; }
static inline unsigned int construir_ae_ifreg(void) { return AE_IFREG; }
static inline unsigned int construir_ae_ifdir(void) { return AE_IFDIR; }
static inline unsigned int construir_ae_iflnk(void) { return AE_IFLNK; }
static inline unsigned int construir_ae_ifchr(void) { return AE_IFCHR; }
static inline unsigned int construir_ae_ifblk(void) { return AE_IFBLK; }
static inline unsigned int construir_ae_ififo(void) { return AE_IFIFO; }
static inline unsigned int construir_ae_ifsock(void) { return AE_IFSOCK; }

/* archive_set_error is variadic, which Swift cannot call: pass a preformatted message. */
static inline void construir_archive_set_error(struct archive *a, int error_number, const char *message) {
    archive_set_error(a, error_number, "%s", message);
}
