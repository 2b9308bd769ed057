/* The guest agent's key/value stores: /disk/<key> as files on an ext4 disk (fsynced, 507 when the
 * disk is full), /mem/<key> as files on tmpfs (gone at power-off). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes in place; returns the decoded length, which is more than strlen() when a %00 was decoded. */
static size_t url_decode(char *s) {
    char *start = s, *o = s;
    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
    return (size_t)(o - start);
}

/* A key becomes one file name: safe bytes as they are, everything else (and a leading dot,
 * which would hide it from UsedBytes) as %XX. Returns -1 if the name would be too long. */
static int key_to_name(const char *key, char *out, size_t n) {
    size_t o = 0;
    for (size_t i = 0; key[i]; i++) {
        unsigned char c = (unsigned char)key[i];
        int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                   c == '-' || (c == '.' && i > 0);
        if (o + 4 >= n) return -1;
        if (safe) out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, n - o, "%%%02X", c);
    }
    out[o] = 0;
    return o > 0 && o <= 240 ? 0 : -1;
}

static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Stream the body into a temporary file, then rename it over the key: readers never see half a
 * value. Disk values are fsynced so a hard stop right after the answer keeps them. */
static void put_key(const char *dir, const char *name, long length, int durable, int close_after) {
    char tmp[600], final[600];
    snprintf(tmp, sizeof tmp, "%s/.tmp.%d", dir, (int)getpid());
    snprintf(final, sizeof final, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        drain(length);
        respond_text(errno == ENOSPC ? 507 : 500, errno == ENOSPC ? "no space left on device\n" : "i/o error\n",
                     close_after);
        return;
    }
    char chunk[65536];
    long remaining = length;
    int err = 0;
    while (remaining > 0) {
        ssize_t n = read_body(chunk, remaining < (long)sizeof chunk ? (size_t)remaining : sizeof chunk);
        if (n <= 0) { err = EPIPE; break; }
        remaining -= n;
        if (write_all(fd, chunk, (size_t)n) < 0) {
            err = errno;
            drain(remaining);
            break;
        }
    }
    if (!err && durable && fsync(fd) < 0) err = errno;
    close(fd);
    if (!err && rename(tmp, final) < 0) err = errno;
    if (err) {
        unlink(tmp);
        if (err == EPIPE) _exit(0); /* the client went away mid-body */
        if (err == ENOSPC || err == EDQUOT) respond_text(507, "no space left on device\n", close_after);
        else respond_text(500, "i/o error\n", close_after);
        return;
    }
    if (durable) sync_dir(dir);
    respond(204, "text/plain", NULL, 0, close_after);
}

static void get_key(const char *dir, const char *name, int head_only, int close_after) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        respond_text(404, "no such key\n", close_after);
        return;
    }
    respond(200, "application/octet-stream", NULL, (size_t)st.st_size, close_after);
    if (!head_only) {
        char chunk[65536];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof chunk)) > 0)
            if (write_all(conn, chunk, (size_t)n) < 0) break;
    }
    close(fd);
}

void key_value(const char *method, char *path, char *query, long length, int close_after) {
    char *slash = strchr(path + 1, '/');
    if (slash == NULL || slash[1] == 0) {
        drain(length);
        respond_text(404, "not found\n", close_after);
        return;
    }
    *slash = 0;
    const char *kind = path + 1;
    char *key = slash + 1;
    if (url_decode(key) != strlen(key)) { /* a NUL would cut the key short: two keys, one file */
        drain(length);
        respond_text(400, "a key may not contain NUL\n", close_after);
        return;
    }
    char dir[300], name[256];
    int durable = 0;
    if (!strcmp(kind, "mem")) {
        snprintf(dir, sizeof dir, MEM_DIR);
    } else if (!strcmp(kind, "disk")) {
        const struct disk *chosen = system_disk();
        for (char *q = query ? strtok(query, "&") : NULL; q; q = strtok(NULL, "&")) {
            if (strncmp(q, "disk=", 5)) continue;
            url_decode(q + 5);
            chosen = NULL;
            for (int i = 0; i < ndisks; i++)
                if (!strcmp(disks[i].id, q + 5)) chosen = &disks[i];
            if (chosen == NULL) {
                char msg[128];
                snprintf(msg, sizeof msg, "no disk %.64s attached\n", q + 5);
                drain(length);
                respond_text(404, msg, close_after);
                return;
            }
            break;
        }
        if (chosen == NULL) {
            drain(length);
            respond_text(404, "no system disk\n", close_after);
            return;
        }
        disk_dir(chosen, dir, sizeof dir);
        durable = 1;
    } else {
        drain(length);
        respond_text(404, "not found\n", close_after);
        return;
    }
    if (key_to_name(key, name, sizeof name) < 0) {
        drain(length);
        respond_text(414, "key too long\n", close_after);
        return;
    }
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
        drain(length);
        get_key(dir, name, !strcmp(method, "HEAD"), close_after);
    } else if (!strcmp(method, "PUT")) {
        put_key(dir, name, length, durable, close_after);
    } else if (!strcmp(method, "DELETE")) {
        drain(length);
        char file[600];
        snprintf(file, sizeof file, "%s/%s", dir, name);
        if (unlink(file) == 0) {
            if (durable) sync_dir(dir);
            respond(204, "text/plain", NULL, 0, close_after);
        } else {
            respond_text(404, "no such key\n", close_after);
        }
    } else {
        drain(length);
        respond_text(405, "method not allowed\n", close_after);
    }
}

void remove_partial_writes(void) {
    char dir[300];
    for (int i = 0; i < ndisks; i++) {
        disk_dir(&disks[i], dir, sizeof dir);
        DIR *dh = opendir(dir);
        if (dh == NULL) continue;
        struct dirent *e;
        while ((e = readdir(dh)) != NULL)
            if (!strncmp(e->d_name, ".tmp.", 5)) unlinkat(dirfd(dh), e->d_name, 0);
        closedir(dh);
    }
}
