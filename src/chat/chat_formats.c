/* chat_formats.c - the built-in chat formats: small Jinja templates for models whose GGUF file
 * carries no tokenizer.chat_template, chosen by name (`kaiwu chat --format chatml`).
 *
 * Each format is written from the published prompt layout of its family (turn markers and where
 * BOS/EOS go), rendered by the same engine as real templates, with bos_token/eos_token supplied
 * from the model's vocabulary. They handle string contents and the system/user/assistant (and
 * tool) roles; anything richer (tool definitions, content parts) needs the model's own template.
 *
 * Relies on: nothing but the strings here. Must not: be used silently in place of a model's own
 * template (kw_chat_create only picks one when the caller names it).
 */
#include "kaiwu.h"

#include <string.h>

typedef struct chat_format {
    const char *name;
    const char *source; /* Jinja, rendered with trim_blocks/lstrip_blocks like any template */
} chat_format;

/* enable_thinking=false closes an empty reasoning block as Qwen3 does, so --no-think works with
 * chatml for Qwen3-style models without a template. */
#define CHATML                                                                                     \
    "{%- for message in messages -%}"                                                              \
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"      \
    "{%- endfor -%}"                                                                               \
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}"                           \
    "{%- if enable_thinking is defined and not enable_thinking -%}"                                \
    "{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}{%- endif -%}"

#define LLAMA3                                                                                     \
    "{{- bos_token -}}"                                                                            \
    "{%- for message in messages -%}"                                                              \
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "                   \
    "(message['content'] | trim) + '<|eot_id|>' -}}"                                               \
    "{%- endfor -%}"                                                                               \
    "{%- if add_generation_prompt -%}"                                                             \
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"

/* Llama 2 chat: the system prompt goes inside the first [INST] between <<SYS>> markers; every
 * user turn opens with BOS, every answer ends with EOS. */
#define LLAMA2                                                                                     \
    "{%- if messages and messages[0]['role'] == 'system' -%}"                                      \
    "{%- set sys = messages[0]['content'] -%}{%- set msgs = messages[1:] -%}"                      \
    "{%- else -%}{%- set sys = '' -%}{%- set msgs = messages -%}{%- endif -%}"                     \
    "{%- for message in msgs -%}"                                                                  \
    "{%- if message['role'] == 'user' -%}"                                                         \
    "{%- if loop.first and sys -%}"                                                                \
    "{%- set content = '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' + message['content'] -%}"          \
    "{%- else -%}{%- set content = message['content'] -%}{%- endif -%}"                            \
    "{{- bos_token + '[INST] ' + (content | trim) + ' [/INST]' -}}"                                \
    "{%- elif message['role'] == 'assistant' -%}"                                                  \
    "{{- ' ' + (message['content'] | trim) + ' ' + eos_token -}}"                                  \
    "{%- endif -%}{%- endfor -%}"

/* Gemma has no system role: the system text is put in front of the first user turn. */
#define GEMMA                                                                                      \
    "{{- bos_token -}}"                                                                            \
    "{%- if messages and messages[0]['role'] == 'system' -%}"                                      \
    "{%- set sys = messages[0]['content'] + '\\n\\n' -%}{%- set msgs = messages[1:] -%}"           \
    "{%- else -%}{%- set sys = '' -%}{%- set msgs = messages -%}{%- endif -%}"                     \
    "{%- for message in msgs -%}"                                                                  \
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"            \
    "{%- set content = (sys + message['content']) if loop.first else message['content'] -%}"       \
    "{{- '<start_of_turn>' + role + '\\n' + (content | trim) + '<end_of_turn>\\n' -}}"             \
    "{%- endfor -%}"                                                                               \
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"

#define PHI3                                                                                       \
    "{%- for message in messages -%}"                                                              \
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' -}}"                 \
    "{%- endfor -%}"                                                                               \
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}"

/* GLM-4 chat (and GLM-Edge): [gMASK]<sop>, then <|role|>\n + content per turn; tool results
 * use the <|observation|> role. The generation prompt is a bare <|assistant|>. */
#define GLM4                                                                                       \
    "[gMASK]<sop>"                                                                                 \
    "{%- for message in messages -%}"                                                              \
    "{%- set role = 'observation' if message['role'] == 'tool' else message['role'] -%}"           \
    "{{- '<|' + role + '|>\\n' + message['content'] -}}"                                           \
    "{%- endfor -%}"                                                                               \
    "{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"

/* DeepSeek (V2/V3/R1 style): BOS, system text, <｜User｜>/<｜Assistant｜> markers, EOS after an
 * answer. */
#define DEEPSEEK                                                                                   \
    "{{- bos_token -}}"                                                                            \
    "{%- for message in messages -%}"                                                              \
    "{%- if message['role'] == 'system' -%}{{- message['content'] -}}"                             \
    "{%- elif message['role'] == 'user' -%}{{- '<\xef\xbd\x9cUser\xef\xbd\x9c>' + "                \
    "message['content'] -}}"                                                                       \
    "{%- elif message['role'] == 'assistant' -%}{{- '<\xef\xbd\x9c"                                \
    "Assistant\xef\xbd\x9c>' + "                                                                   \
    "message['content'] + eos_token -}}"                                                           \
    "{%- endif -%}{%- endfor -%}"                                                                  \
    "{%- if add_generation_prompt -%}{{- '<\xef\xbd\x9c"                                           \
    "Assistant\xef\xbd\x9c>' -}}"                                                                  \
    "{%- endif -%}"

/* MiniCPM (1/2): <用户>question<AI>answer; the system text stands alone in front. */
#define MINICPM                                                                                    \
    "{%- for message in messages -%}"                                                              \
    "{%- if message['role'] == 'user' -%}"                                                         \
    "{{- '<\xe7\x94\xa8\xe6\x88\xb7>' + (message['content'] | trim) + '<AI>' -}}"                  \
    "{%- else -%}{{- message['content'] | trim -}}{%- endif -%}"                                   \
    "{%- endfor -%}"

static const chat_format formats[] = {
    {"chatml", CHATML}, {"llama3", LLAMA3},     {"llama2", LLAMA2},
    {"gemma", GEMMA},   {"phi3", PHI3},         {"glm4", GLM4},
    {"chatglm4", GLM4}, {"deepseek", DEEPSEEK}, {"minicpm", MINICPM},
};

const char *kw_chat_format_names(void) {
    return "chatml, llama3, llama2, gemma, phi3, glm4, chatglm4, deepseek, minicpm";
}

const char *kw_chat_format_source(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0) return formats[i].source;
    return NULL;
}
