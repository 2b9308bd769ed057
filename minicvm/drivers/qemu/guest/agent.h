/* Shared by the guest agent's sources (agent.c: HTTP and facts; store.c: the key/value stores). */
#ifndef MINICVM_AGENT_H
#define MINICVM_AGENT_H
#include <stddef.h>
#include <sys/types.h>

#define CONFIG_FILE "/etc/minicvm/config"
#define DISKS_ROOT "/mnt/disks"
#define MEM_DIR "/run/mem"
#define SHUTDOWN_FLAG "/run/shutting-down"
#define POWER_OFF_SCRIPT "/etc/acpi/PWRF/00000080" /* guest/power-button */
#define MAX_HEAD 65536
#define MAX_BODY (16L << 20) /* same limit as the sim guest */
#define MAX_DISKS 32
#define IDLE_SECONDS 120

struct disk {
    char id[64];
    long size_gib;
    int system;
};

extern char instance_id[64];
extern int conn; /* the connection this process serves */
extern struct disk disks[MAX_DISKS];
extern int ndisks;

int write_all(int fd, const void *buf, size_t len);
ssize_t read_body(char *buf, size_t len);
void respond(int status, const char *ctype, const char *body, size_t len, int close_after);
void respond_text(int status, const char *text, int close_after);
void drain(long remaining);
const struct disk *system_disk(void);
void disk_dir(const struct disk *d, char *out, size_t n);

/* store.c */
void key_value(const char *method, char *path, char *query, long length, int close_after);
void remove_partial_writes(void);

#endif
