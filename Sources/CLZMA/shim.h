#include <lzma.h>

/* UINT32_C/UINT64_C macros are not imported into Swift: re-export the ones used. */
static inline uint32_t construir_lzma_concatenated(void) { return LZMA_CONCATENATED; }
static inline uint32_t construir_lzma_tell_no_check(void) { return LZMA_TELL_NO_CHECK; }
static inline uint32_t construir_lzma_preset_extreme(void) { return LZMA_PRESET_EXTREME; }
static inline lzma_stream construir_lzma_stream_init(void) { lzma_stream s = LZMA_STREAM_INIT; return s; }
