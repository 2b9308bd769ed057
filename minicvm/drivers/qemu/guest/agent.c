/* minicvm guest agent: the guest contract (README, "Guests (the guest contract)") inside a real VM,
 * on port 80.
 *
 *   GET /                  JSON facts, same keys as the sim guest's describe()
 *   GET /healthz           200 while up, 503 once the power button was pressed
 *   PUT|GET|DELETE /disk/<key>[?disk=<disk-id>]   files on an ext4 disk (507 when it is full)
 *   PUT|GET|DELETE /mem/<key>                     files on tmpfs (lost at power-off)
 *   POST /control/poweroff  the test hook: the OS powers itself off, as `poweroff` typed inside it
 *
 * One process per connection (fork): every piece of state lives in the filesystem, so the
 * children share it without locks, and a slow client never blocks the health checks.
 * Built static by minicvm/drivers/qemu/image.py; init (guest/init) starts it and restarts it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include "agent.h"

char instance_id[64];
static char host_name[256];
static long cpu, memory_gib, boot_count;
static int ignore_power_button;
struct disk disks[MAX_DISKS];
int ndisks;

/* ---- buffered connection I/O ------------------------------------------------------------- */

int conn = -1;
static char inbuf[MAX_HEAD];
static size_t inlen;

int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to len body bytes, first from what is left in the header buffer. */
ssize_t read_body(char *buf, size_t len) {
    if (inlen > 0) {
        size_t n = inlen < len ? inlen : len;
        memcpy(buf, inbuf, n);
        memmove(inbuf, inbuf + n, inlen - n);
        inlen -= n;
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t n = read(conn, buf, len);
        if (n < 0 && errno == EINTR) continue;
        return n;
    }
}

void respond(int status, const char *ctype, const char *body, size_t len, int close_after) {
    const char *reason = "OK";
    switch (status) {
    case 204: reason = "No Content"; break;
    case 400: reason = "Bad Request"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 413: reason = "Payload Too Large"; break;
    case 414: reason = "URI Too Long"; break;
    case 500: reason = "Internal Server Error"; break;
    case 503: reason = "Service Unavailable"; break;
    case 507: reason = "Insufficient Storage"; break;
    }
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nX-Instance-Id: %s\r\n%s\r\n",
                     status, reason, ctype, len, instance_id, close_after ? "Connection: close\r\n" : "");
    if (write_all(conn, head, (size_t)n) == 0 && body != NULL && len > 0) write_all(conn, body, len);
}

void respond_text(int status, const char *text, int close_after) {
    respond(status, "text/plain", text, strlen(text), close_after);
}

void drain(long remaining) {
    char chunk[65536];
    while (remaining > 0) {
        ssize_t n = read_body(chunk, remaining < (long)sizeof chunk ? (size_t)remaining : sizeof chunk);
        if (n <= 0) return;
        remaining -= n;
    }
}

/* ---- growable string for the JSON answer ------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) _exit(1);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void putf(struct buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_json_string(struct buf *b, const char *s) {
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(b, esc, 2);
        } else if (c < 0x20) {
            putf(b, "\\u%04x", c);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

/* ---- facts ------------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len_out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct buf b = {0};
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) put(&b, chunk, (size_t)n);
    close(fd);
    if (b.p == NULL) put(&b, "", 0);
    if (len_out) *len_out = b.len;
    return b.p;
}

static void chomp(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
}

static void load_config(void) {
    FILE *f = fopen(CONFIG_FILE, "re");
    if (f == NULL) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        chomp(line);
        char *eq = strchr(line, '=');
        if (eq == NULL) continue;
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (!strcmp(k, "instance_id")) snprintf(instance_id, sizeof instance_id, "%s", v);
        else if (!strcmp(k, "host_name")) snprintf(host_name, sizeof host_name, "%s", v);
        else if (!strcmp(k, "cpu")) cpu = atol(v);
        else if (!strcmp(k, "memory_gib")) memory_gib = atol(v);
        else if (!strcmp(k, "ignore_power_button")) ignore_power_button = atoi(v);
        else if (!strcmp(k, "disk") && ndisks < MAX_DISKS) {
            struct disk *d = &disks[ndisks];
            if (sscanf(v, "%63s %ld %d", d->id, &d->size_gib, &d->system) == 3) ndisks++;
        }
    }
    fclose(f);
}

const struct disk *system_disk(void) {
    for (int i = 0; i < ndisks; i++)
        if (disks[i].system) return &disks[i];
    return NULL;
}

void disk_dir(const struct disk *d, char *out, size_t n) {
    snprintf(out, n, DISKS_ROOT "/%.63s/data", d->id);
}

static long long used_bytes(const char *dir) {
    DIR *dh = opendir(dir);
    if (dh == NULL) return 0;
    long long total = 0;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", and half-written ".tmp.*" files */
        if (fstatat(dirfd(dh), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    }
    closedir(dh);
    return total;
}

/* Copies the JSON value that follows "key": in the host-written config.json, verbatim; the
 * host writes it with json.dumps (ASCII only), so the copied token is valid JSON as it is. */
static int copy_json_value(struct buf *out, const char *json, const char *key) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = json ? strstr(json, pattern) : NULL;
    if (p == NULL) return 0;
    p += strlen(pattern);
    while (*p == ' ') p++;
    const char *start = p;
    int depth = 0, in_string = 0;
    for (; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') {
                in_string = 0;
                if (depth == 0) { p++; break; }
            }
        } else if (*p == '"') in_string = 1;
        else if (*p == '[' || *p == '{') depth++;
        else if (*p == ']' || *p == '}') {
            if (depth == 0) break;
            if (--depth == 0) { p++; break; }
        } else if (*p == ',' && depth == 0) break;
    }
    if (p == start) return 0;
    put(out, start, (size_t)(p - start));
    return 1;
}

static void describe(int head_only, int close_after) {
    struct buf b = {0};
    char *boot_id = read_file("/proc/sys/kernel/random/boot_id", NULL);
    char *uptime = read_file("/proc/uptime", NULL);
    if (boot_id) chomp(boot_id);
    const struct disk *sys = system_disk();
    char path[512];
    char *config = NULL;
    if (sys != NULL) {
        snprintf(path, sizeof path, DISKS_ROOT "/%.63s/.minicvm/config.json", sys->id);
        config = read_file(path, NULL);
    }
    put(&b, "{\"InstanceId\": ", 15);
    put_json_string(&b, instance_id);
    put(&b, ", \"BootId\": ", 12);
    put_json_string(&b, boot_id ? boot_id : "");
    putf(&b, ", \"BootCount\": %ld, \"UptimeSeconds\": %.3f", boot_count, uptime ? atof(uptime) : 0.0);
    putf(&b, ", \"CPU\": %ld, \"MemoryGiB\": %ld, \"HostName\": ", cpu, memory_gib);
    put_json_string(&b, host_name);
    put(&b, ", \"Disks\": [", 12);
    for (int i = 0; i < ndisks; i++) {
        disk_dir(&disks[i], path, sizeof path);
        putf(&b, "%s{\"DiskId\": ", i ? ", " : "");
        put_json_string(&b, disks[i].id);
        putf(&b, ", \"SizeGiB\": %ld, \"System\": %s, \"UsedBytes\": %lld}", disks[i].size_gib,
             disks[i].system ? "true" : "false", used_bytes(path));
    }
    put(&b, "], \"LoginUser\": ", 16);
    if (!copy_json_value(&b, config, "login_user")) put(&b, "\"root\"", 6);
    put(&b, ", \"PasswordChangedAt\": ", 23);
    if (!copy_json_value(&b, config, "password_changed_at")) put(&b, "null", 4);
    put(&b, ", \"KeyFingerprints\": ", 21);
    if (!copy_json_value(&b, config, "key_fingerprints")) put(&b, "[]", 2);
    putf(&b, ", \"IgnorePowerButton\": %s, \"Driver\": \"qemu\"}", ignore_power_button ? "true" : "false");
    respond(200, "application/json", head_only ? NULL : b.p, b.len, close_after);
    free(b.p);
    free(boot_id);
    free(uptime);
    free(config);
}

/* ---- HTTP/1.1 request loop (keep-alive, Content-Length bodies) ----------------------------- */

static void serve_connection(void) {
    for (;;) {
        char *end;
        while ((end = memmem(inbuf, inlen, "\r\n\r\n", 4)) == NULL) {
            if (inlen >= sizeof inbuf) {
                respond_text(400, "header too large\n", 1);
                return;
            }
            ssize_t n = read(conn, inbuf + inlen, sizeof inbuf - inlen);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            inlen += (size_t)n;
        }
        size_t head_len = (size_t)(end - inbuf) + 4;
        char head[MAX_HEAD + 1];
        memcpy(head, inbuf, head_len);
        head[head_len] = 0;
        memmove(inbuf, inbuf + head_len, inlen - head_len);
        inlen -= head_len;

        char *save = NULL;
        char *line = strtok_r(head, "\r\n", &save);
        char method[16], target[8192], version[16];
        if (line == NULL || sscanf(line, "%15s %8191s %15s", method, target, version) != 3) {
            respond_text(400, "bad request line\n", 1);
            return;
        }
        if (strlen(target) >= sizeof target - 1) {
            respond_text(414, "request target too long\n", 1);
            return;
        }
        long length = 0;
        int expect_continue = 0;
        int close_after = !strcmp(version, "HTTP/1.0");
        while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
            char *colon = strchr(line, ':');
            if (colon == NULL) continue;
            *colon = 0;
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t') value++;
            if (!strcasecmp(line, "Content-Length")) {
                char *bad;
                length = strtol(value, &bad, 10);
                if (*bad != 0 || length < 0) {
                    respond_text(400, "bad content-length\n", 1);
                    return;
                }
            } else if (!strcasecmp(line, "Expect")) {
                expect_continue = !strcasecmp(value, "100-continue");
            } else if (!strcasecmp(line, "Connection")) {
                if (!strcasecmp(value, "close")) close_after = 1;
                else if (!strcasecmp(value, "keep-alive")) close_after = 0;
            }
        }
        if (length > MAX_BODY) {
            respond_text(413, "body too large\n", 1);
            return;
        }
        if (expect_continue && length > 0) /* curl waits a second for this before a large body */
            write_all(conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        char *query = strchr(target, '?');
        if (query) *query++ = 0;
        char *hash = strchr(query ? query : target, '#');
        if (hash) *hash = 0;
        int head_only = !strcmp(method, "HEAD");
        if (!strcmp(target, "/healthz")) {
            drain(length);
            if (access(SHUTDOWN_FLAG, F_OK) == 0) respond_text(503, "shutting down\n", close_after);
            else respond(200, "text/plain", head_only ? NULL : "ok\n", 3, close_after);
        } else if (!strcmp(target, "/") && (head_only || !strcmp(method, "GET"))) {
            drain(length);
            describe(head_only, close_after);
        } else if (!strcmp(target, "/control/poweroff") && !strcmp(method, "POST")) {
            /* The same clean shutdown as the power button's, but nobody pressed it: the host sees a
             * guest that went off by itself. Answered first; the connection closes with the OS. */
            drain(length);
            respond_text(204, "", 1);
            shutdown(conn, SHUT_WR);
            execl("/bin/sh", "sh", POWER_OFF_SCRIPT, (char *)NULL);
            _exit(1);
        } else {
            key_value(method, target, query, length, close_after);
        }
        if (close_after) return;
    }
}

/* A hard stop in the middle of a PUT leaves its temporary file behind: nobody will finish it. */
static void load_boot_count(void) {
    const struct disk *sys = system_disk();
    if (sys == NULL) return;
    char path[512];
    snprintf(path, sizeof path, DISKS_ROOT "/%.63s/.minicvm/boot_count", sys->id);
    char *text = read_file(path, NULL);
    if (text) boot_count = atol(text);
    free(text);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 80;
    load_config();
    load_boot_count();
    remove_partial_writes();
    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);
    int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv, 128) < 0) {
        perror("minicvm-agent: listen");
        return 1;
    }
    for (;;) {
        int c = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(srv);
            conn = c;
            struct timeval idle = {.tv_sec = IDLE_SECONDS};
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
            setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            serve_connection();
            _exit(0);
        }
        close(c);
    }
}
