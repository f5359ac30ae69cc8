/* A custom runtime as a static C binary: speaks the Runtime API over a plain TCP
 * socket, starts a thread and a child per event, and answers what they did. Built
 * by tests/test_seccomp.py with `cc -static -pthread`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char host[256];
static char port[16];

/* One HTTP/1.0 exchange; returns the whole response (headers and body). */
static char *http(const char *method, const char *path, const char *body) {
    /* A numeric address: a static glibc cannot load NSS modules to resolve names. */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) exit(2);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) exit(3);
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s /2018-06-01/runtime%s HTTP/1.0\r\nHost: %s\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, host, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, n) != n) exit(4);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += got;
        if (len + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    close(fd);
    return buf;
}

static void *worker(void *arg) {
    long *out = arg;
    for (long i = 0; i < 100000; i++) *out += i;
    return NULL;
}

int main(void) {
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api) return 1;
    const char *colon = strchr(api, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - api), api);
    snprintf(port, sizeof port, "%s", colon + 1);
    for (;;) {
        char *resp = http("GET", "/invocation/next", NULL);
        char *id = strcasestr(resp, "lambda-runtime-aws-request-id:");
        if (!id) return 5;
        id += strlen("lambda-runtime-aws-request-id:");
        while (*id == ' ') id++;
        char rid[128];
        sscanf(id, "%127[^\r\n]", rid);

        long sum = 0;
        pthread_t t;
        pthread_create(&t, NULL, worker, &sum);
        pthread_join(t, NULL);

        int status = -1;
        pid_t child = fork();
        if (child == 0) {
            execl("/bin/sh", "sh", "-c", "exit 6", (char *)NULL);
            _exit(127);
        }
        waitpid(child, &status, 0);

        char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int prot = page != MAP_FAILED && mprotect(page, 4096, PROT_READ) == 0;

        char answer[256], path[256];
        snprintf(answer, sizeof answer,
                 "{\"static\": \"ok\", \"sum\": %ld, \"child\": %d, \"mprotect\": %d}", sum,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, prot);
        snprintf(path, sizeof path, "/invocation/%s/response", rid);
        free(http("POST", path, answer));
        free(resp);
    }
}
