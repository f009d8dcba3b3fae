#include "weir_config.h"
#include "http/mime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/pool.h"

/*
 * The table is an open-addressing hash (linear probing) keyed by the
 * lower-cased extension, built once at config time in the config pool and
 * read-only afterwards, so lookups take no lock and allocate nothing.
 */

#define WEIR_MIME_DEFAULT   "application/octet-stream"
#define WEIR_MIME_EXT_MAX   32          /* longer "extensions" are unknown */
#define WEIR_MIME_FILE_MAX  (1024 * 1024)

typedef struct {
    const char  *ext;           /* lower case, NUL-terminated; NULL: free */
    size_t       len;
    const char  *type;
} weir_mime_slot_t;

struct weir_mime_s {
    weir_mime_slot_t  *slots;
    size_t             mask;    /* capacity - 1, capacity a power of two */
    size_t             used;
    weir_pool_t       *pool;
};

enum {
    TOK_WORD, TOK_SEMI, TOK_LBRACE, TOK_RBRACE, TOK_NL, TOK_EOF
};

typedef struct {
    const char  *p;
    const char  *end;
    unsigned     line;          /* line of the token just returned */
    const char  *tok;
    size_t       tok_len;
    const char  *path;
    char        *err;
    size_t       errlen;
} weir_mime_lexer_t;

static int read_file(const char *path, char **data, size_t *len,
    char *err, size_t errlen);
static int parse_block(weir_mime_lexer_t *lx, weir_mime_t *m);
static int parse_plain(weir_mime_lexer_t *lx, weir_mime_t *m);
static int parse_entry(weir_mime_lexer_t *lx, weir_mime_t *m, int block);
static int next_token(weir_mime_lexer_t *lx);
static int lex_error(weir_mime_lexer_t *lx, const char *fmt, ...)
    WEIR_PRINTF(2, 3);
static int valid_type(const char *p, size_t len);
static int valid_ext(const char *p, size_t len);
static int table_add(weir_mime_t *m, const char *ext, size_t len,
    const char *type);
static int table_grow(weir_mime_t *m);
static const weir_mime_slot_t *table_find(const weir_mime_t *m,
    const char *ext, size_t len);
static uint32_t hash_ext(const char *p, size_t len);
static int tolower_ascii(int c);


int
weir_mime_load(const char *path, weir_pool_t *pool, weir_mime_t **out,
    char *err, size_t errlen)
{
    weir_mime_lexer_t  lx;
    weir_mime_t       *m;
    char              *data;
    size_t             len;
    int                rc;

    if (path == NULL || pool == NULL || out == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "weir_mime_load: bad arguments");
        }
        return WEIR_ERROR;
    }

    if (read_file(path, &data, &len, err, errlen) != WEIR_OK) {
        return WEIR_ERROR;
    }

    m = weir_pcalloc(pool, sizeof(*m));
    if (m == NULL) {
        free(data);
        snprintf(err, errlen, "%s: out of memory", path);
        return WEIR_ERROR;
    }
    m->pool = pool;

    memset(&lx, 0, sizeof(lx));
    lx.p = data;
    lx.end = data + len;
    lx.line = 1;
    lx.path = path;
    lx.err = err;
    lx.errlen = errlen;

    /* The format is decided by the first statement: "types {" opens an
     * nginx-style block, anything else is the Apache one-type-a-line form. */
    {
        weir_mime_lexer_t  peek = lx;
        int                t;

        do {
            t = next_token(&peek);
        } while (t == TOK_NL);

        if (t == TOK_WORD && peek.tok_len == 5
            && memcmp(peek.tok, "types", 5) == 0)
        {
            t = next_token(&peek);
            while (t == TOK_NL) {
                t = next_token(&peek);
            }
            if (t != TOK_LBRACE) {
                rc = lex_error(&peek, "expected \"{\" after \"types\"");
                goto done;
            }
            lx = peek;
            rc = parse_block(&lx, m);

        } else {
            rc = parse_plain(&lx, m);
        }
    }

done:

    free(data);

    if (rc == WEIR_OK) {
        *out = m;
    }

    return rc;
}


const char *
weir_mime_type(const weir_mime_t *m, const char *name, size_t len)
{
    const weir_mime_slot_t  *s;
    const char              *p, *base, *dot;

    if (m == NULL || name == NULL || m->used == 0) {
        return WEIR_MIME_DEFAULT;
    }

    /* The extension is what follows the last dot of the last path
     * component; a leading dot (".profile") is a hidden file's name, not
     * an extension. */
    base = name;
    dot = NULL;
    for (p = name; p < name + len; p++) {
        if (*p == '/') {
            base = p + 1;
            dot = NULL;
        } else if (*p == '.') {
            dot = p;
        }
    }

    if (dot == NULL || dot == base || dot + 1 == name + len) {
        return WEIR_MIME_DEFAULT;
    }

    s = table_find(m, dot + 1, (size_t) (name + len - dot - 1));

    return s != NULL ? s->type : WEIR_MIME_DEFAULT;
}


static int
read_file(const char *path, char **data, size_t *len, char *err,
    size_t errlen)
{
    FILE    *f;
    char    *buf;
    size_t   n, cap;

    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return WEIR_ERROR;
    }

    cap = 16384;
    n = 0;
    buf = malloc(cap);

    while (buf != NULL) {
        size_t  got = fread(buf + n, 1, cap - n, f);

        n += got;
        if (n < cap) {
            break;
        }
        if (cap >= WEIR_MIME_FILE_MAX) {
            fclose(f);
            free(buf);
            snprintf(err, errlen, "%s: file is larger than %d bytes", path,
                WEIR_MIME_FILE_MAX);
            return WEIR_ERROR;
        }

        {
            char  *nbuf = realloc(buf, cap * 2);

            if (nbuf == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nbuf;
            cap *= 2;
        }
    }

    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return WEIR_ERROR;
    }

    if (ferror(f)) {
        int  e = errno;

        fclose(f);
        free(buf);
        snprintf(err, errlen, "%s: read error: %s", path, strerror(e));
        return WEIR_ERROR;
    }

    fclose(f);
    *data = buf;
    *len = n;

    return WEIR_OK;
}


/* Inside "types { ... }": "type ext ...;" statements, which may span
 * lines; after the closing brace only comments may follow. */
static int
parse_block(weir_mime_lexer_t *lx, weir_mime_t *m)
{
    int  t;

    for ( ;; ) {
        t = next_token(lx);

        switch (t) {

        case TOK_NL:
            continue;

        case TOK_WORD:
            if (parse_entry(lx, m, 1) != WEIR_OK) {
                return WEIR_ERROR;
            }
            continue;

        case TOK_RBRACE:
            do {
                t = next_token(lx);
            } while (t == TOK_NL);

            if (t != TOK_EOF) {
                return lex_error(lx, "unexpected text after \"}\"");
            }
            return WEIR_OK;

        case TOK_EOF:
            return lex_error(lx, "unexpected end of file, expected \"}\"");

        default:
            return lex_error(lx, "unexpected \"%c\"", *lx->tok);
        }
    }
}


/* Apache style: one "type [ext ...]" per line; a trailing ";" is
 * tolerated so a block body pasted without its braces still loads. */
static int
parse_plain(weir_mime_lexer_t *lx, weir_mime_t *m)
{
    int  t;

    for ( ;; ) {
        t = next_token(lx);

        switch (t) {

        case TOK_NL:
            continue;

        case TOK_EOF:
            return WEIR_OK;

        case TOK_WORD:
            if (parse_entry(lx, m, 0) != WEIR_OK) {
                return WEIR_ERROR;
            }
            continue;

        default:
            return lex_error(lx, "unexpected \"%c\"", *lx->tok);
        }
    }
}


/* The current token is the type; read its extensions up to ";" (block)
 * or the end of the line (plain). */
static int
parse_entry(weir_mime_lexer_t *lx, weir_mime_t *m, int block)
{
    const char  *type;
    int          t;

    if (!valid_type(lx->tok, lx->tok_len)) {
        return lex_error(lx, "invalid MIME type \"%.*s\"",
            (int) weir_min(lx->tok_len, 64), lx->tok);
    }

    type = weir_pstrndup(m->pool, lx->tok, lx->tok_len);
    if (type == NULL) {
        return lex_error(lx, "out of memory");
    }

    for ( ;; ) {
        t = next_token(lx);

        if (t == TOK_WORD) {
            if (!valid_ext(lx->tok, lx->tok_len)) {
                return lex_error(lx, "invalid extension \"%.*s\"",
                    (int) weir_min(lx->tok_len, 64), lx->tok);
            }
            if (table_add(m, lx->tok, lx->tok_len, type) != WEIR_OK) {
                return lex_error(lx, "out of memory");
            }
            continue;
        }

        if (t == TOK_SEMI) {
            if (block) {
                return WEIR_OK;
            }
            /* plain: only the end of the line may follow the ";" */
            t = next_token(lx);
            if (t == TOK_NL || t == TOK_EOF) {
                return WEIR_OK;
            }
            return lex_error(lx, "unexpected text after \";\"");
        }

        if (t == TOK_NL) {
            if (block) {
                continue;
            }
            return WEIR_OK;
        }

        if (t == TOK_EOF && !block) {
            return WEIR_OK;
        }

        if (t == TOK_EOF || t == TOK_RBRACE) {
            return lex_error(lx, "missing \";\" after \"%s\"", type);
        }

        return lex_error(lx, "unexpected \"%c\"", *lx->tok);
    }
}


static int
next_token(weir_mime_lexer_t *lx)
{
    const char  *p = lx->p;

    for ( ;; ) {
        while (p < lx->end && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        if (p < lx->end && *p == '#') {
            while (p < lx->end && *p != '\n') {
                p++;
            }
            continue;
        }
        break;
    }

    lx->tok = p;
    lx->tok_len = 1;

    if (p == lx->end) {
        lx->tok_len = 0;
        lx->p = p;
        return TOK_EOF;
    }

    switch (*p) {
    case '\n':
        /* the newline token belongs to the line it ends; count after */
        lx->p = p + 1;
        lx->line++;
        return TOK_NL;
    case ';':
        lx->p = p + 1;
        return TOK_SEMI;
    case '{':
        lx->p = p + 1;
        return TOK_LBRACE;
    case '}':
        lx->p = p + 1;
        return TOK_RBRACE;
    default:
        break;
    }

    while (p < lx->end && *p != ' ' && *p != '\t' && *p != '\r'
           && *p != '\n' && *p != ';' && *p != '{' && *p != '}'
           && *p != '#')
    {
        p++;
    }

    lx->tok_len = (size_t) (p - lx->tok);
    lx->p = p;

    return TOK_WORD;
}


static int
lex_error(weir_mime_lexer_t *lx, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    if (lx->err == NULL || lx->errlen == 0) {
        return WEIR_ERROR;
    }

    n = snprintf(lx->err, lx->errlen, "%s:%u: ", lx->path, lx->line);

    if (n >= 0 && (size_t) n < lx->errlen) {
        va_start(ap, fmt);
        vsnprintf(lx->err + n, lx->errlen - (size_t) n, fmt, ap);
        va_end(ap);
    }

    return WEIR_ERROR;
}


/* type "/" subtype, both RFC 9110 tokens */
static int
valid_type(const char *p, size_t len)
{
    static const char  tchar[] = "!#$%&'*+-.^_`|~";
    size_t             i, slash = 0, nslash = 0;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) p[i];

        if (c == '/') {
            slash = i;
            nslash++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || (c != '\0' && strchr(tchar, c))))
        {
            return 0;
        }
    }

    return nslash == 1 && slash > 0 && slash + 1 < len;
}


static int
valid_ext(const char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > WEIR_MIME_EXT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) p[i];

        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '.') {
            return 0;
        }
    }

    return 1;
}


/* A later definition of an extension replaces the earlier one, so a
 * local file can override a type by appending a line. */
static int
table_add(weir_mime_t *m, const char *ext, size_t len, const char *type)
{
    weir_mime_slot_t  *s;
    char              *lower;
    size_t             i;

    if ((m->used + 1) * 4 > (m->mask + 1) * 3 || m->slots == NULL) {
        if (table_grow(m) != WEIR_OK) {
            return WEIR_ERROR;
        }
    }

    lower = weir_palloc(m->pool, len + 1);
    if (lower == NULL) {
        return WEIR_ERROR;
    }
    for (i = 0; i < len; i++) {
        lower[i] = (char) tolower_ascii((unsigned char) ext[i]);
    }
    lower[len] = '\0';

    for (i = hash_ext(lower, len) & m->mask; ; i = (i + 1) & m->mask) {
        s = &m->slots[i];

        if (s->ext == NULL) {
            s->ext = lower;
            s->len = len;
            s->type = type;
            m->used++;
            return WEIR_OK;
        }

        if (s->len == len && memcmp(s->ext, lower, len) == 0) {
            s->type = type;
            return WEIR_OK;
        }
    }
}


/* Double the table (the old array stays in the pool: config time only). */
static int
table_grow(weir_mime_t *m)
{
    weir_mime_slot_t  *old = m->slots, *slots;
    size_t             ncap, i, j, ocap;

    ocap = old != NULL ? m->mask + 1 : 0;
    ncap = ocap != 0 ? ocap * 2 : 64;

    slots = weir_pcalloc(m->pool, ncap * sizeof(*slots));
    if (slots == NULL) {
        return WEIR_ERROR;
    }

    for (i = 0; i < ocap; i++) {
        if (old[i].ext == NULL) {
            continue;
        }
        for (j = hash_ext(old[i].ext, old[i].len) & (ncap - 1);
             slots[j].ext != NULL;
             j = (j + 1) & (ncap - 1))
        {
            /* probe */
        }
        slots[j] = old[i];
    }

    m->slots = slots;
    m->mask = ncap - 1;

    return WEIR_OK;
}


static const weir_mime_slot_t *
table_find(const weir_mime_t *m, const char *ext, size_t len)
{
    const weir_mime_slot_t  *s;
    char                     lower[WEIR_MIME_EXT_MAX];
    size_t                   i;

    if (len > WEIR_MIME_EXT_MAX) {
        return NULL;
    }

    for (i = 0; i < len; i++) {
        lower[i] = (char) tolower_ascii((unsigned char) ext[i]);
    }

    /* the load factor stays below 3/4, so an empty slot always ends this */
    for (i = hash_ext(lower, len) & m->mask; ; i = (i + 1) & m->mask) {
        s = &m->slots[i];

        if (s->ext == NULL) {
            return NULL;
        }
        if (s->len == len && memcmp(s->ext, lower, len) == 0) {
            return s;
        }
    }
}


/* FNV-1a over the (already lower-cased) bytes. */
static uint32_t
hash_ext(const char *p, size_t len)
{
    uint32_t  h = 2166136261u;
    size_t    i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) p[i];
        h *= 16777619u;
    }

    return h;
}


static int
tolower_ascii(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}
