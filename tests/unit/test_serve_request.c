/* test_serve_request.c - the OpenAI request mapping of kaiwu serve: replays the fuzz corpus
 * (tests/fuzz/corpus/serve_request/) through the fuzz target, and checks what the seeds say:
 * which parse, which are refused and with which parameter named. */
#include "../fuzz/fuzz_serve_request.c"

#include "test.h"

#include <dirent.h>
#include <string.h>

static void test_corpus_replays(void) {
    const char *dir = "tests/fuzz/corpus/serve_request";
    DIR *d = opendir(dir);
    CHECK(d != NULL, "the corpus directory %s exists", dir);
    if (!d) return;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *data = test_read_file(path, &len);
        CHECK(data != NULL, "reads %s", path);
        if (data) LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        free(data);
        n++;
    }
    closedir(d);
    CHECK(n >= 6, "the corpus has its seeds (%d files)", n);
}

static int parse(srv_kind k, const char *body, srv_spec *s, const char **param) {
    char err[512];
    return srv_parse_request(k, body, strlen(body), s, err, sizeof err, param);
}

static void test_requests_are_checked(void) {
    srv_spec s;
    const char *param;
    CHECK(parse(SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", &s,
                &param) == 0 &&
              s.n == 2 && s.max_tokens == -1,
          "a chat request parses");
    srv_spec_free(&s);
    CHECK(parse(SRV_CHAT, "{\"messages\":\"hi\"}", &s, &param) == 400 && param &&
              strcmp(param, "messages") == 0,
          "messages of the wrong type: 400 naming messages");
    CHECK(parse(SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":2}", &s,
                &param) == 400 &&
              param && strcmp(param, "top_p") == 0,
          "top_p out of range: 400 naming top_p");
    CHECK(parse(SRV_CHAT,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":"
                "\"function\"}]}",
                &s, &param) == 400 &&
              param && strcmp(param, "tools") == 0,
          "tools are refused, not ignored");
    CHECK(parse(SRV_COMPLETION, "{\"prompt\":[1,-2]}", &s, &param) == 400,
          "a negative token id is refused");
    CHECK(parse(SRV_COMPLETION, "{\"prompt\":\"a\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\"]}", &s,
                &param) == 400,
          "five stop strings are refused");
}

int main(void) {
    RUN_TEST(test_corpus_replays);
    RUN_TEST(test_requests_are_checked);
    return test_report();
}
