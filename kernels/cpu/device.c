/* device.c — the CPU backend's device in words (ops.h device): the
 * processor's model name from /proc/cpuinfo, for reports. */
#include <stdio.h>
#include <string.h>

#include "cpu.h"

const char *cpu_device_name(void) {
    static char name[160];
    if (name[0]) return name;
    snprintf(name, sizeof name, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return name;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += strspn(colon + 1, " \t") + 1;
        snprintf(name, sizeof name, "%.*s", (int)strcspn(colon, "\n"), colon);
        break;
    }
    fclose(f);
    return name;
}
