#include "weir_config.h"
#include "core/wtime.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

weir_msec_t weir_current_msec;
int64_t     weir_current_wall_msec;
time_t      weir_current_sec;

static char http_time[64] = "Thu, 01 Jan 1970 00:00:00 GMT";
static char log_time[64] = "01/Jan/1970:00:00:00 +0000";
static char iso_time[64] = "1970-01-01T00:00:00+00:00";
static char errlog_time[64] = "1970-01-01T00:00:00.000Z";

const char *weir_cached_http_time = http_time;
const char *weir_cached_log_time = log_time;
const char *weir_cached_iso8601 = iso_time;
const char *weir_cached_errlog_time = errlog_time;

static const char *wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
                               "Sat" };
static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int month_index(const char *p);
static time_t tm_to_time(int year, int mon, int mday, int h, int m, int s);
static int digits(const char *p, int n, int *out);

void
weir_time_update(void)
{
    struct timespec ts;
    struct tm       tm;
    time_t          sec;
    int             ms;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    weir_current_msec = (weir_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    clock_gettime(CLOCK_REALTIME, &ts);
    weir_current_wall_msec = (int64_t) ts.tv_sec * 1000
                             + ts.tv_nsec / 1000000;
    sec = ts.tv_sec;
    ms = (int) (ts.tv_nsec / 1000000);
    if (sec != weir_current_sec) {
        weir_current_sec = sec;
        gmtime_r(&sec, &tm);
        weir_time_http(http_time, sec);
        snprintf(log_time, sizeof(log_time), "%02d/%s/%04d:%02d:%02d:%02d +0000",
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        snprintf(iso_time, sizeof(iso_time),
                 "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    /* The error log keeps millisecond precision: rewrite only the tail. */
    memcpy(errlog_time, iso_time, 19);
    snprintf(errlog_time + 19, sizeof(errlog_time) - 19, ".%03dZ", ms % 1000);
}

size_t
weir_time_http(char *buf, time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    /* 29 characters for years 1000..9999; clamp so the width is fixed. */
    return (size_t) snprintf(buf, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                             wdays[tm.tm_wday % 7], tm.tm_mday % 32,
                             months[tm.tm_mon % 12],
                             (tm.tm_year + 1900) % 10000, tm.tm_hour % 24,
                             tm.tm_min % 60, tm.tm_sec % 61);
}

static int
month_index(const char *p)
{
    int i;

    for (i = 0; i < 12; i++) {
        if (strncasecmp(p, months[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

/* timegm() without the locale and TZ dependence: days from civil date. */
static time_t
tm_to_time(int year, int mon, int mday, int h, int m, int s)
{
    int64_t y = year - (mon < 2), era, yoe, doy, doe, days;
    int     mp = (mon + 10) % 12;

    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * mp + 2) / 5 + mday - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;
    return (time_t) (days * 86400 + h * 3600 + m * 60 + s);
}

/* n decimal digits at p (no sign, no space): 1 and *out, or 0. */
static int
digits(const char *p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

time_t
weir_time_parse_http(const char *p, size_t len)
{
    char buf[64], mon[4] = { 0 };
    int  d, y, h, m, s, mi, n = 0;

    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    if (len == 29 && isalpha((unsigned char) p[0])
        && isalpha((unsigned char) p[1]) && isalpha((unsigned char) p[2])
        && p[3] == ',' && p[4] == ' ' && p[7] == ' '
        && p[11] == ' ' && p[16] == ' ' && p[19] == ':' && p[22] == ':'
        && p[25] == ' ' && memcmp(p + 26, "GMT", 3) == 0
        && digits(p + 5, 2, &d) && digits(p + 12, 4, &y)
        && digits(p + 17, 2, &h) && digits(p + 20, 2, &m)
        && digits(p + 23, 2, &s)) {
        /* IMF-fixdate, what every server sends: read in place (sscanf
         * cost a cached response's fill some 5,000 instructions a date) */
        memcpy(mon, p + 8, 3);
        goto done;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    /* %d takes a sign, which no HTTP-date has: '+' is refused here and a
     * negative field below, so "-1:49:37" is not an hour before midnight
     * (the cache takes Expires and Last-Modified from here) */
    if (strchr(buf, '+') != NULL) {
        return -1;
    }

    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &d,
               mon, &y, &h, &m, &s, &n) == 6 && n == (int) len) {
        goto done;
    }
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    n = 0;
    if (sscanf(buf, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &d,
               mon, &y, &h, &m, &s, &n) == 6 && n == (int) len) {
        y += y < 70 ? 2000 : 1900;
        goto done;
    }
    /* asctime: Sun Nov  6 08:49:37 1994 */
    n = 0;
    if (sscanf(buf, "%*3[A-Za-z] %3[A-Za-z] %d %2d:%2d:%2d %4d%n", mon, &d, &h,
               &m, &s, &y, &n) == 6 && n == (int) len) {
        goto done;
    }
    return -1;

done:
    mi = month_index(mon);
    if (mi < 0 || d < 1 || d > 31 || h < 0 || h > 23 || m < 0 || m > 59
        || s < 0 || s > 60 || y < 1970)
    {
        return -1;
    }
    return tm_to_time(y, mi, d, h, m, s);
}
