#include "weir_config.h"
#include "proc/proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

/*
 * Linux shows a process's command line by reading the memory between the
 * start of argv[0] and the end of the last argument; when the NUL at that
 * end is overwritten it keeps reading into the environment strings that
 * follow. Those two blocks are contiguous in a fresh process, so the title
 * may use both once the environment has moved to the heap. Only strings
 * that really are contiguous are claimed: a program that edited argv or
 * environ before us must not have its memory overwritten.
 */

extern char **environ;

static char *area;        /* start of argv[0]; NULL: titles disabled */
static size_t area_len;   /* bytes usable, the final NUL included */
static char *argv0;

static char *claim_env(char *end);

int
weir_proctitle_init(int argc, char **argv)
{
    char  *end;
    int    i;

    if (argc < 1 || argv[0] == NULL) {
        return WEIR_ERROR;
    }
    argv0 = strdup(argv[0]);
    if (argv0 == NULL) {
        return WEIR_ERROR;
    }
    end = argv[0] + strlen(argv[0]) + 1;
    for (i = 1; i < argc && argv[i] == end; i++) {
        end = argv[i] + strlen(argv[i]) + 1;
    }
    end = claim_env(end);
    if (end == NULL) {
        return WEIR_ERROR;
    }
    area = argv[0];
    area_len = (size_t) (end - area);
    return WEIR_OK;
}

/* Copy the environment to the heap and return the end of the environment
 * strings that follow `end` contiguously (or `end` itself); NULL when out
 * of memory, with the environment left as it was. */
static char *
claim_env(char *end)
{
    char   **env;
    size_t   n, i;

    for (n = 0; environ[n]; n++) {
        /* count */
    }
    env = calloc(n + 1, sizeof(char *));
    if (env == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        env[i] = strdup(environ[i]);
        if (env[i] == NULL) {
            while (i > 0) {
                free(env[--i]);
            }
            free(env);
            return NULL;
        }
    }
    for (i = 0; i < n && environ[i] == end; i++) {
        end = environ[i] + strlen(environ[i]) + 1;
    }
    /* The old strings stay where they are until a title overwrites them;
     * nothing points to them any more once environ is swapped. */
    environ = env;
    return end;
}

const char *
weir_proctitle_argv0(void)
{
    return argv0 ? argv0 : "weir";
}

void
weir_proctitle_set(const char *comm, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (comm) {
        prctl(PR_SET_NAME, comm, 0, 0, 0);
    }
    if (area == NULL || area_len < 2) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(area, area_len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        area[0] = '\0';
        n = 0;
    }
    /* NUL the rest, so no old argument or variable shows after the
     * title (vsnprintf truncates and terminates within area_len). */
    if ((size_t) n < area_len) {
        memset(area + n, 0, area_len - (size_t) n);
    }
}
