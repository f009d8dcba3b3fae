#include "weir_config.h"
#include "core/conf.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "core/sbuf.h"
#include "core/str.h"
#include "core/units.h"

/* One section as it appeared in the file. */
struct weir_conf_inst_s {
    int                 type;      /* index into cf->sections */
    char               *name;      /* NULL for unnamed types */
    char               *label;     /* "[upstream app]" */
    void               *obj;
    int                 line;
    int                *key_lines; /* per row: where it was set, or 0 */
    weir_conf_inst_t   *next;
};

static char *conf_reader(char *str, int num, void *stream);
static void conf_emit(weir_conf_t *cf, const char *file, int line,
    const char *section, const char *key, const char *fmt, va_list ap);
static int read_line(weir_conf_t *cf, size_t *len);
static char *skip_blanks(char *p);
static char *strip_comment(char *p);
static int logical_append(weir_conf_t *cf, const char *p, size_t n);
static int read_logical(weir_conf_t *cf);
static void section_begin(weir_conf_t *cf, char *p);
static int valid_name(const char *s);
static int conf_handler(void *user, const char *section, const char *name,
    const char *value);
static char *expand_env(weir_conf_t *cf, const char *value);
static const weir_conf_cmd_t *find_cmd(weir_conf_t *cf, int section,
    const char *key, size_t *index);
static int set_typed(weir_conf_t *cf, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
static int set_bits(weir_conf_t *cf, const weir_conf_cmd_t *cmd, void *obj,
    char *value);
static void dump_bits(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);
static void format_value(int type, int64_t v, char *buf, size_t len);

void
weir_conf_init(weir_conf_t *cf, weir_pool_t *pool, const char *file,
    const char *prefix, const weir_conf_section_t *sections,
    size_t nsections, const weir_conf_cmd_t *cmds, size_t ncmds,
    weir_conf_error_pt error, void *data)
{
    memset(cf, 0, sizeof(*cf));
    cf->pool = pool;
    cf->file = file;
    cf->prefix = prefix;
    cf->sections = sections;
    cf->nsections = nsections;
    cf->cmds = cmds;
    cf->ncmds = ncmds;
    cf->error = error;
    cf->data = data;
}

int
weir_conf_parse(weir_conf_t *cf, FILE *fp)
{
    size_t before = cf->nerrors;

    cf->fp = fp;
    cf->line = 0;
    cf->phys = 0;
    /* inih's own verdict is ignored: the reader hands it only lines it
     * has already checked, and reports everything else itself. */
    (void) ini_parse_stream(conf_reader, cf, conf_handler, cf);
    free(cf->buf);
    cf->buf = NULL;
    cf->bufcap = 0;
    free(cf->lbuf);
    cf->lbuf = NULL;
    cf->lcap = cf->llen = 0;
    cf->lkey = cf->lvalue = NULL;
    cf->fp = NULL;
    cf->key = NULL;
    cf->line = 0;
    return cf->nerrors == before ? WEIR_OK : WEIR_ERROR;
}

static void
conf_emit(weir_conf_t *cf, const char *file, int line, const char *section,
    const char *key, const char *fmt, va_list ap)
{
    char   msg[1024];
    size_t n;
    int    rc;

    rc = line > 0 ? snprintf(msg, sizeof(msg), "%s:%d: ", file, line)
                  : snprintf(msg, sizeof(msg), "%s: ", file);
    n = rc > 0 ? weir_min((size_t) rc, sizeof(msg) - 1) : 0;
    if (section && n < sizeof(msg) - 1) {
        rc = snprintf(msg + n, sizeof(msg) - n, key ? "%s " : "%s: ",
                      section);
        n += rc > 0 ? weir_min((size_t) rc, sizeof(msg) - 1 - n) : 0;
    }
    if (key && n < sizeof(msg) - 1) {
        rc = snprintf(msg + n, sizeof(msg) - n, "%s: ", key);
        n += rc > 0 ? weir_min((size_t) rc, sizeof(msg) - 1 - n) : 0;
    }
    if (n < sizeof(msg) - 1) {
        vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
    }
    cf->nerrors++;
    cf->error(cf->data, msg);
}

void
weir_conf_error(weir_conf_t *cf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_emit(cf, cf->file, cf->line,
              cf->key && cf->cur ? cf->cur->label : NULL, cf->key, fmt, ap);
    va_end(ap);
}

void
weir_conf_error_at(weir_conf_t *cf, const char *file, int line,
    const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_emit(cf, file, line, section, key, fmt, ap);
    va_end(ap);
}

/* Read one physical line into cf->buf without its end of line, and
 * reject what no logical line may hold (over-long, NUL). Returns WEIR_OK,
 * WEIR_DECLINED (reported, cf->line set to it) or WEIR_DONE at the end. */
static int
read_line(weir_conf_t *cf, size_t *len)
{
    ssize_t n;

    n = getline(&cf->buf, &cf->bufcap, cf->fp);
    if (n < 0) {
        if (ferror(cf->fp)) {
            weir_conf_error_at(cf, cf->file, 0, NULL, NULL,
                               "read error: %s", strerror(errno));
        }
        return WEIR_DONE;
    }
    cf->phys++;
    while (n > 0 && (cf->buf[n - 1] == '\n' || cf->buf[n - 1] == '\r')) {
        n--;
    }
    cf->buf[n] = '\0';
    if (cf->phys == 1 && n >= 3 && memcmp(cf->buf, "\xEF\xBB\xBF", 3) == 0) {
        memmove(cf->buf, cf->buf + 3, (size_t) n - 2);
        n -= 3;
    }
    *len = (size_t) n;
    if (*len > WEIR_CONF_LINE_MAX) {
        cf->line = cf->phys;
        weir_conf_error(cf, "line too long (max %d characters)",
                        WEIR_CONF_LINE_MAX);
        return WEIR_DECLINED;
    }
    if (strlen(cf->buf) != *len) {
        cf->line = cf->phys;
        weir_conf_error(cf, "NUL character in line");
        return WEIR_DECLINED;
    }
    return WEIR_OK;
}

static char *
skip_blanks(char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

/* Cut an inline comment: a ';' or '#' preceded by a blank (so that
 * "^/a#b" or "https://x/#top" keep theirs). Then trim the end. p does not
 * start with a comment character: such lines never get here. */
static char *
strip_comment(char *p)
{
    char *q, *end;

    for (q = p + 1; *q; q++) {
        if ((*q == ';' || *q == '#') && (q[-1] == ' ' || q[-1] == '\t')) {
            *q = '\0';
            break;
        }
    }
    end = p + strlen(p);
    while (end > p && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }
    return p;
}

/* Append n bytes to the logical line, which is cf->lbuf. */
static int
logical_append(weir_conf_t *cf, const char *p, size_t n)
{
    char   *nb;
    size_t  cap;

    if (cf->llen + n > WEIR_CONF_LINE_MAX) {
        weir_conf_error(cf, "line too long (max %d characters, continuation "
                        "lines included)", WEIR_CONF_LINE_MAX);
        return WEIR_ERROR;
    }
    if (cf->llen + n + 1 > cf->lcap) {
        cap = cf->lcap ? cf->lcap : 256;
        while (cap < cf->llen + n + 1) {
            cap *= 2;
        }
        nb = realloc(cf->lbuf, cap);
        if (nb == NULL) {
            weir_conf_error(cf, "out of memory");
            return WEIR_ERROR;
        }
        cf->lbuf = nb;
        cf->lcap = cap;
    }
    memcpy(cf->lbuf + cf->llen, p, n);
    cf->llen += n;
    cf->lbuf[cf->llen] = '\0';
    return WEIR_OK;
}

/*
 * Read one logical line into cf->lbuf: a line that is neither blank nor a
 * comment, its inline comment cut, joined with the following lines while
 * it ends in a backslash (the backslash goes, the blanks before it stay,
 * the next line's leading blanks go; comment lines in between are
 * skipped; a blank line or the end of the file ends the value). cf->line
 * is the first line, which every error about the value names.
 * Returns WEIR_OK, WEIR_DECLINED (nothing to parse) or WEIR_DONE.
 */
static int
read_logical(weir_conf_t *cf)
{
    size_t len;
    char  *p;
    int    rc, more;

    cf->llen = 0;
    do {
        rc = read_line(cf, &len);
        if (rc != WEIR_OK) {
            return rc;
        }
        p = skip_blanks(cf->buf);
    } while (*p == '\0' || *p == ';' || *p == '#');
    cf->line = cf->phys;

    for (;;) {
        p = strip_comment(p);
        len = strlen(p);
        more = len > 0 && p[len - 1] == '\\';
        if (logical_append(cf, p, len - (size_t) more) != WEIR_OK) {
            return WEIR_DECLINED;
        }
        if (!more) {
            return WEIR_OK;
        }
        do {
            rc = read_line(cf, &len);
            if (rc == WEIR_DONE) {
                return WEIR_OK;
            }
            if (rc != WEIR_OK) {
                return WEIR_DECLINED;     /* reported at that line */
            }
            p = skip_blanks(cf->buf);
        } while (*p == ';' || *p == '#');
        if (*p == '\0') {
            return WEIR_OK;
        }
    }
}

/*
 * The inih reader: called once per line, like fgets. It reads a logical
 * line itself (see read_logical), handles section headers (inih would not
 * tell the handler about an empty section, nor give it a line number) and
 * checks "key = value" lines. inih's line buffer is INI_MAX_LINE (200)
 * bytes in the packaged library, fixed at its build, so a long value
 * cannot pass through it: the reader keeps the key and the value in
 * cf->lkey / cf->lvalue and hands inih a short stand-in pair, on which
 * inih calls the handler. Every other line reaches inih as an empty one.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
    weir_conf_t *cf = stream;
    char        *p, *eq, *colon, *end;
    int          rc;

    str[0] = '\0';
    cf->key = NULL;
    cf->lkey = NULL;
    cf->lvalue = NULL;
    rc = read_logical(cf);
    if (rc == WEIR_DONE) {
        return NULL;
    }
    if (rc != WEIR_OK) {
        return str;
    }
    p = cf->lbuf;
    if (*p == '[') {
        section_begin(cf, p);
        return str;
    }
    eq = strchr(p, '=');
    colon = strchr(p, ':');
    if (eq == NULL || (colon && colon < eq)) {
        weir_conf_error(cf, "expected \"key = value\", got \"%s\"", p);
        return str;
    }
    if (eq == p) {
        weir_conf_error(cf, "missing key before '='");
        return str;
    }
    if (cf->cur == NULL && !cf->skip) {
        weir_conf_error(cf, "\"%s\" outside of any section", p);
        return str;
    }
    if (cf->skip || num < 4) {
        return str;            /* the section was rejected already */
    }
    for (end = eq; end > p && (end[-1] == ' ' || end[-1] == '\t'); end--) {
        /* void */
    }
    *end = '\0';
    cf->lkey = p;
    cf->lvalue = skip_blanks(eq + 1);
    memcpy(str, "k=v", 4);
    return str;
}

static int
valid_name(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-'
            && *s != '.')
        {
            return 0;
        }
    }
    return 1;
}

static void
section_begin(weir_conf_t *cf, char *p)
{
    const weir_conf_section_t *st = NULL;
    weir_conf_inst_t          *in;
    char                      *type, *name, *extra, *end, *save = NULL;
    size_t                     i;
    weir_sbuf_t                label;

    cf->cur = NULL;
    cf->skip = 1;
    end = p + strlen(p) - 1;
    if (*end != ']') {
        weir_conf_error(cf, "missing ']' in section header \"%s\"", p);
        return;
    }
    *end = '\0';
    type = strtok_r(p + 1, " \t", &save);
    name = type ? strtok_r(NULL, " \t", &save) : NULL;
    extra = name ? strtok_r(NULL, " \t", &save) : NULL;
    if (type == NULL) {
        weir_conf_error(cf, "empty section header");
        return;
    }
    for (i = 0; i < cf->nsections; i++) {
        if (strcmp(cf->sections[i].name, type) == 0) {
            st = &cf->sections[i];
            break;
        }
    }
    if (st == NULL) {
        weir_conf_error(cf, "unknown section [%s]", type);
        return;
    }
    if (st->named && name == NULL) {
        weir_conf_error(cf, "section [%s] needs a name: [%s NAME]", type,
                        type);
        return;
    }
    if (!st->named && name != NULL) {
        weir_conf_error(cf, "section [%s] takes no name", type);
        return;
    }
    if (extra != NULL || (name && !valid_name(name))) {
        weir_conf_error(cf, "invalid section name in [%s %s%s%s] (letters, "
                        "digits, '_', '-' and '.' only)", type, name,
                        extra ? " " : "", extra ? extra : "");
        return;
    }
    for (in = cf->insts; in; in = in->next) {
        if (in->type == (int) i
            && (name == NULL || strcmp(in->name, name) == 0))
        {
            weir_conf_error(cf, "duplicate section %s, first at line %d",
                            in->label, in->line);
            return;
        }
    }

    weir_sbuf_init_pool(&label, cf->pool, 0);
    weir_sbuf_printf(&label, "[%s%s%s]", type, name ? " " : "",
                     name ? name : "");
    in = weir_pcalloc(cf->pool, sizeof(*in));
    if (in == NULL
        || (in->key_lines = weir_pcalloc(cf->pool,
                                         cf->ncmds * sizeof(int))) == NULL
        || weir_sbuf_failed(&label))
    {
        weir_conf_error(cf, "out of memory");
        return;
    }
    in->label = label.data;
    in->type = (int) i;
    in->line = cf->line;
    in->name = name ? weir_pstrndup(cf->pool, name, strlen(name)) : NULL;
    in->obj = st->create(cf, in->name);
    if (in->obj == NULL) {
        return;                 /* create() reported why */
    }
    in->next = cf->insts;
    cf->insts = in;
    cf->cur = in;
    cf->skip = 0;
}

static const weir_conf_cmd_t *
find_cmd(weir_conf_t *cf, int section, const char *key, size_t *index)
{
    size_t i;

    for (i = 0; i < cf->ncmds; i++) {
        if (cf->cmds[i].section == section
            && strcmp(cf->cmds[i].key, key) == 0)
        {
            *index = i;
            return &cf->cmds[i];
        }
    }
    return NULL;
}

/* The inih handler: its arguments are the reader's stand-in, the real
 * key and value are cf->lkey / cf->lvalue (the reader tracks sections
 * too); it returns 1 so that inih never counts an error of its own. */
static int
conf_handler(void *user, const char *section, const char *stand_in_name,
    const char *stand_in_value)
{
    weir_conf_t           *cf = user;
    weir_conf_inst_t      *in = cf->cur;
    const weir_conf_cmd_t *cmd;
    const char            *name = cf->lkey, *value = cf->lvalue;
    size_t                 idx;
    char                  *copy;

    (void) section;
    (void) stand_in_name;
    (void) stand_in_value;
    if (in == NULL || name == NULL) {
        return 1;
    }
    cf->key = name;
    cmd = find_cmd(cf, in->type, name, &idx);
    if (cmd == NULL) {
        cf->key = NULL;
        weir_conf_error_at(cf, cf->file, cf->line, in->label, name,
                           "unknown key");
        return 1;
    }
    if (in->key_lines[idx] != 0 && !(cmd->flags & WEIR_CONF_MULTI)) {
        weir_conf_error(cf, "duplicate key, first set at line %d",
                        in->key_lines[idx]);
        return 1;
    }
    if (in->key_lines[idx] == 0) {
        in->key_lines[idx] = cf->line;
    }
    if (*value == '\0') {
        weir_conf_error(cf, "missing value");
        return 1;
    }
    copy = expand_env(cf, value);
    if (copy == NULL) {
        return 1;               /* expand_env() said why */
    }
    if (*copy == '\0') {
        weir_conf_error(cf, "empty value after expanding environment "
                        "variables");
        return 1;
    }
    if (cmd->type == WEIR_CONF_CUSTOM) {
        (void) cmd->set(cf, cmd, in->obj, copy);
    } else {
        (void) set_typed(cf, cmd, in->obj, copy);
    }
    return 1;
}

/*
 * The value as an arena copy with each ${NAME} replaced by the variable's
 * value from the environment (containers configure by environment; the
 * seeds' files are written that way). NAME is a C identifier. "$${" is a
 * literal "${"; any other '$' is kept as it is, so regexes ending in '$'
 * and "$var" templates are untouched. The result is not scanned again.
 * A variable that is not set, or a "${" without a valid NAME and '}', is
 * an error naming the key: a silently empty upstream address or path
 * would be worse. NULL after reporting.
 */
static char *
expand_env(weir_conf_t *cf, const char *value)
{
    weir_sbuf_t  sb;
    const char  *p = value, *d, *name, *end, *v;
    char         var[256];
    size_t       n;

    weir_sbuf_init_pool(&sb, cf->pool, strlen(value) + 1);
    while ((d = strchr(p, '$')) != NULL) {
        if (d[1] == '$' && d[2] == '{') {
            weir_sbuf_append(&sb, p, (size_t) (d - p) + 1);    /* "...$" */
            weir_sbuf_append_char(&sb, '{');
            p = d + 3;
            continue;
        }
        if (d[1] != '{') {
            weir_sbuf_append(&sb, p, (size_t) (d - p) + 1);
            p = d + 1;
            continue;
        }
        weir_sbuf_append(&sb, p, (size_t) (d - p));
        name = d + 2;
        for (end = name; *end == '_' || isalnum((unsigned char) *end); end++) {
            /* void */
        }
        n = (size_t) (end - name);
        if (*end != '}' || n == 0 || isdigit((unsigned char) *name)
            || n >= sizeof(var))
        {
            weir_conf_error(cf, "invalid \"${\" at \"%.32s\": expected "
                            "${NAME} (letters, digits, '_'), or \"$${\" for "
                            "a literal \"${\"", d);
            return NULL;
        }
        memcpy(var, name, n);
        var[n] = '\0';
        v = getenv(var);
        if (v == NULL) {
            weir_conf_error(cf, "environment variable %s is not set", var);
            return NULL;
        }
        weir_sbuf_append_cstr(&sb, v);
        p = end + 1;
    }
    weir_sbuf_append_cstr(&sb, p);
    if (weir_sbuf_failed(&sb)) {
        weir_conf_error(cf, "out of memory");
        return NULL;
    }
    if (sb.len > WEIR_CONF_LINE_MAX) {
        weir_conf_error(cf, "value too long after expanding environment "
                        "variables (max %d characters)", WEIR_CONF_LINE_MAX);
        return NULL;
    }
    return sb.data;
}

static int
set_typed(weir_conf_t *cf, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    char                   *field = (char *) obj + cmd->offset;
    const weir_conf_enum_t *e;
    int64_t                 v = 0;
    int                     rc = WEIR_OK;
    char                    lo[32], hi[32];

    switch (cmd->type) {
    case WEIR_CONF_FLAG:
        if (strcmp(value, "on") == 0 || strcmp(value, "off") == 0) {
            *(int *) field = value[1] == 'n';
            return WEIR_OK;
        }
        weir_conf_error(cf, "invalid value \"%s\", expected on or off",
                        value);
        return WEIR_ERROR;

    case WEIR_CONF_ENUM:
        for (e = cmd->enums; e->name; e++) {
            if (strcmp(e->name, value) == 0) {
                *(int *) field = e->value;
                return WEIR_OK;
            }
        }
        {
            char   list[256];
            size_t n = 0;
            for (e = cmd->enums; e->name && n < sizeof(list) - 1; e++) {
                int w = snprintf(list + n, sizeof(list) - n, "%s%s",
                                 e == cmd->enums ? "" : " | ", e->name);
                n += w > 0 ? weir_min((size_t) w, sizeof(list) - 1 - n) : 0;
            }
            weir_conf_error(cf, "invalid value \"%s\", expected %s", value,
                            list);
        }
        return WEIR_ERROR;

    case WEIR_CONF_STR:
        *(char **) field = value;
        return WEIR_OK;

    case WEIR_CONF_PATH:
        *(char **) field = weir_conf_path(cf, value);
        return *(char **) field ? WEIR_OK : WEIR_ERROR;

    case WEIR_CONF_WORDS:
        return weir_conf_set_words(cf, cmd, obj, value);

    case WEIR_CONF_BITS:
        return set_bits(cf, cmd, obj, value);

    case WEIR_CONF_INT:
        rc = weir_str_atoi64(value, strlen(value), &v);
        if (rc != WEIR_OK) {
            weir_conf_error(cf, "invalid number \"%s\"", value);
        }
        break;
    case WEIR_CONF_SIZE:
        rc = weir_units_parse_size(value, &v);
        if (rc != WEIR_OK) {
            weir_conf_error(cf, "invalid size \"%s\" (expected e.g. 512, "
                            "16k, 10m, 1g)", value);
        }
        break;
    case WEIR_CONF_MSEC:
        rc = weir_units_parse_msec(value, &v);
        if (rc != WEIR_OK) {
            weir_conf_error(cf, "invalid time \"%s\" (expected e.g. 250ms, "
                            "5s, 10m, 1h, 1d)", value);
        }
        break;
    default:
        weir_conf_error(cf, "internal error: bad row type %d", cmd->type);
        return WEIR_ERROR;
    }
    if (rc != WEIR_OK) {
        return WEIR_ERROR;
    }
    if (v < cmd->min || v > cmd->max) {
        format_value(cmd->type, cmd->min, lo, sizeof(lo));
        if (cmd->max == WEIR_CONF_NOMAX) {
            weir_conf_error(cf, "\"%s\" is out of range (min %s)", value, lo);
        } else {
            format_value(cmd->type, cmd->max, hi, sizeof(hi));
            weir_conf_error(cf, "\"%s\" is out of range (%s..%s)", value,
                            lo, hi);
        }
        return WEIR_ERROR;
    }
    *(int64_t *) field = v;
    return WEIR_OK;
}

/* Words of cmd->enums OR-ed together, or "off" alone for none. */
static int
set_bits(weir_conf_t *cf, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    const weir_conf_enum_t *e;
    unsigned                bits = 0;
    char                   *p = value, *w, list[256];
    size_t                  n = 0;
    int                     rc;

    if (strcmp(value, "off") != 0) {
        while ((w = weir_conf_next_word(&p)) != NULL) {
            for (e = cmd->enums; e->name && strcmp(e->name, w) != 0; e++) {
                /* void */
            }
            if (e->name == NULL) {
                for (e = cmd->enums; e->name && n < sizeof(list) - 1; e++) {
                    rc = snprintf(list + n, sizeof(list) - n, "%s, ",
                                  e->name);
                    n += rc > 0 ? weir_min((size_t) rc, sizeof(list) - 1 - n)
                                : 0;
                }
                weir_conf_error(cf, "unknown condition \"%s\" (expected "
                                "%soff)", w, list);
                return WEIR_ERROR;
            }
            bits |= (unsigned) e->value;
        }
    }
    *(unsigned *) (void *) ((char *) obj + cmd->offset) = bits;
    return WEIR_OK;
}

static void
dump_bits(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const weir_conf_enum_t *e;
    unsigned                bits;

    bits = *(const unsigned *) (const void *) ((const char *) obj
                                                + cmd->offset);
    fprintf(out, "%s =", cmd->key);
    for (e = cmd->enums; e->name; e++) {
        if (bits & (unsigned) e->value) {
            fprintf(out, " %s", e->name);
        }
    }
    fputs(bits ? "\n" : " off\n", out);
}

char *
weir_conf_next_word(char **pp)
{
    char *p = *pp, *w;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0') {
        *pp = p;
        return NULL;
    }
    w = p;
    while (*p && *p != ' ' && *p != '\t') {
        p++;
    }
    if (*p) {
        *p++ = '\0';
    }
    *pp = p;
    return w;
}

void *
weir_conf_grow(weir_conf_t *cf, void *arr, size_t n, size_t size)
{
    void  *p;
    size_t cap;

    if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) {
        return arr;
    }
    cap = n < 4 ? 4 : n * 2;
    p = weir_palloc(cf->pool, cap * size);
    if (p == NULL) {
        weir_conf_error(cf, "out of memory");
        return NULL;
    }
    if (n) {
        memcpy(p, arr, n * size);
    }
    return p;
}

int
weir_conf_set_words(weir_conf_t *cf, const weir_conf_cmd_t *cmd, void *obj,
    char *value)
{
    char  ***arr = (char ***) (void *) ((char *) obj + cmd->offset);
    size_t  *n = (size_t *) (void *) ((char *) obj + cmd->offset2);
    char    *w, *p = value, **a;

    while ((w = weir_conf_next_word(&p)) != NULL) {
        a = weir_conf_grow(cf, *arr, *n, sizeof(char *));
        if (a == NULL) {
            return WEIR_ERROR;
        }
        *arr = a;
        a[(*n)++] = w;
    }
    return WEIR_OK;
}

void
weir_conf_dump_words(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    char *const *a = *(char **const *) (const void *) ((const char *) obj
                                                       + cmd->offset);
    size_t       i, n = *(const size_t *) (const void *) ((const char *) obj
                                                          + cmd->offset2);

    if (cmd->flags & WEIR_CONF_MULTI) {   /* one per line: lines stay short */
        for (i = 0; i < n; i++) {
            fprintf(out, "%s = %s\n", cmd->key, a[i]);
        }
        return;
    }
    if (n == 0) {
        fprintf(out, "; %s is not set\n", cmd->key);
        return;
    }
    fprintf(out, "%s =", cmd->key);
    for (i = 0; i < n; i++) {
        fprintf(out, " %s", a[i]);
    }
    fputc('\n', out);
}

void
weir_conf_dump_str(const weir_conf_cmd_t *cmd, const void *obj, FILE *out)
{
    const char *v = *(char *const *) (const void *) ((const char *) obj
                                                     + cmd->offset);

    if (v) {
        fprintf(out, "%s = %s\n", cmd->key, v);
    } else {
        fprintf(out, "; %s is not set\n", cmd->key);
    }
}

static void
format_value(int type, int64_t v, char *buf, size_t len)
{
    if (type == WEIR_CONF_SIZE) {
        weir_units_format_size(v, buf, len);
    } else if (type == WEIR_CONF_MSEC) {
        weir_units_format_msec(v, buf, len);
    } else {
        snprintf(buf, len, "%lld", (long long) v);
    }
}

int
weir_conf_key_line(const weir_conf_t *cf, const void *obj, const char *key)
{
    const weir_conf_inst_t *in;
    size_t                  i;

    for (in = cf->insts; in; in = in->next) {
        if (in->obj != obj) {
            continue;
        }
        for (i = 0; i < cf->ncmds; i++) {
            if (cf->cmds[i].section == in->type
                && strcmp(cf->cmds[i].key, key) == 0)
            {
                return in->key_lines[i];
            }
        }
    }
    return 0;
}

char *
weir_conf_path(weir_conf_t *cf, const char *value)
{
    weir_sbuf_t sb;
    int         rel = value[0] != '/';

    weir_sbuf_init_pool(&sb, cf->pool,
                        (rel ? strlen(cf->prefix) + 1 : 0) + strlen(value));
    if (rel) {
        weir_sbuf_append_cstr(&sb, cf->prefix);
        weir_sbuf_append_char(&sb, '/');
    }
    weir_sbuf_append_cstr(&sb, value);
    if (weir_sbuf_failed(&sb)) {
        weir_conf_error(cf, "out of memory");
        return NULL;
    }
    return sb.data;
}

void
weir_conf_dump(const weir_conf_cmd_t *cmds, size_t ncmds, int section,
    const void *obj, FILE *out)
{
    const char             *field;
    const weir_conf_enum_t *e;
    char                    buf[32];
    size_t                  i;

    for (i = 0; i < ncmds; i++) {
        const weir_conf_cmd_t *cmd = &cmds[i];

        if (cmd->section != section) {
            continue;
        }
        field = (const char *) obj + cmd->offset;
        switch (cmd->type) {
        case WEIR_CONF_CUSTOM:
            cmd->dump(cmd, obj, out);
            break;
        case WEIR_CONF_FLAG:
            fprintf(out, "%s = %s\n", cmd->key,
                    *(const int *) field ? "on" : "off");
            break;
        case WEIR_CONF_ENUM:
            for (e = cmd->enums; e->name; e++) {
                if (e->value == *(const int *) field) {
                    fprintf(out, "%s = %s\n", cmd->key, e->name);
                    break;
                }
            }
            break;
        case WEIR_CONF_STR:
        case WEIR_CONF_PATH:
            weir_conf_dump_str(cmd, obj, out);
            break;
        case WEIR_CONF_WORDS:
            weir_conf_dump_words(cmd, obj, out);
            break;
        case WEIR_CONF_BITS:
            dump_bits(cmd, obj, out);
            break;
        default:
            format_value(cmd->type, *(const int64_t *) field, buf,
                         sizeof(buf));
            fprintf(out, "%s = %s\n", cmd->key, buf);
            break;
        }
    }
}
