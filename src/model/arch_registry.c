/* arch_registry.c - the list of known architecture descriptions and lookup by GGUF name. */
#include "model/arch.h"

#include <pthread.h>
#include <string.h>

extern const arch_desc arch_llama, arch_qwen2, arch_qwen3, arch_glm4, arch_chatglm, arch_gemma2,
    arch_gemma3, arch_phi3, arch_minicpm;

const arch_desc *const arch_all[] = {
    &arch_llama,  &arch_qwen2,  &arch_qwen3, &arch_glm4,    &arch_chatglm,
    &arch_gemma2, &arch_gemma3, &arch_phi3,  &arch_minicpm, NULL,
};

const arch_desc *arch_find(const char *gguf_name, size_t len) {
    for (int i = 0; arch_all[i]; i++)
        if (strlen(arch_all[i]->gguf_name) == len &&
            memcmp(arch_all[i]->gguf_name, gguf_name, len) == 0)
            return arch_all[i];
    return NULL;
}

static char arch_list[256];

static void build_list(void) {
    for (int i = 0; arch_all[i]; i++) {
        if (i) strcat(arch_list, ", ");
        strcat(arch_list, arch_all[i]->gguf_name);
    }
}

const char *kw_supported_architectures(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_list);
    return arch_list;
}
