/*
 * The configuration engine: reads an INI file through inih with a reader
 * that counts lines, maps each `key = value` to a row of a schema table
 * and calls its typed setter (STYLE 12-13). It knows nothing of what the
 * sections mean: the caller (src/proc/config.c) supplies the section
 * types, the rows, and an error sink; every error is reported, none stops
 * the parse.
 *
 * Syntax decisions (documented for weir.ini(5)):
 * - A line holds at most WEIR_CONF_LINE_MAX characters, and so does a
 *   value joined from continuation lines; more is an error "line too long
 *   (max 8192 characters)". inih's own limit (INI_MAX_LINE, 200 bytes in
 *   the packaged library) does not apply: the reader keeps the line.
 * - Comments: a line whose first non-blank character is ';' or '#'; and an
 *   inline comment that starts at a ';' or '#' preceded by a space or a
 *   tab. One glued to the text before it is data (`match = ~ ^/a;b` and
 *   `return = 301 https://x/#top` keep theirs).
 * - Continuation: a line whose last character (comment cut, trailing
 *   blanks trimmed) is '\' continues on the next line: the backslash goes,
 *   blanks before it stay, the next line's leading blanks go. Comment lines
 *   in between are skipped; a blank line or the end of the file ends the
 *   value. Errors name the first line. Otherwise leading blanks are
 *   ignored (indenting is free).
 * - Values are taken literally after trimming blanks: quotes are not
 *   removed.
 */
#ifndef WEIR_CORE_CONF_H
#define WEIR_CORE_CONF_H

#include <stdio.h>
#include <stdint.h>
#include "core/core.h"
#include "core/pool.h"

/* Row flags. */
#define WEIR_CONF_MULTI   0x01  /* the key may repeat and accumulates */

#define WEIR_CONF_NOMAX   INT64_MAX

/* The longest line, or value joined from continuation lines, in
 * characters: room for a log_format with every variable, while a file
 * that is not an INI file (a binary, say) still fails fast. */
#define WEIR_CONF_LINE_MAX 8192

enum weir_conf_type {
    WEIR_CONF_INT = 0,   /* int64_t, decimal, min..max */
    WEIR_CONF_SIZE,      /* int64_t, "16k" */
    WEIR_CONF_MSEC,      /* weir_msec_t, "5s" */
    WEIR_CONF_FLAG,      /* int, on | off */
    WEIR_CONF_ENUM,      /* int, one of cmd->enums */
    WEIR_CONF_STR,       /* char *, copied into the arena */
    WEIR_CONF_PATH,      /* char *, made absolute under the prefix */
    WEIR_CONF_WORDS,     /* char ** at offset, size_t count at offset2 */
    WEIR_CONF_BITS,      /* unsigned: words of cmd->enums OR-ed, or off */
    WEIR_CONF_CUSTOM     /* cmd->set / cmd->dump */
};

typedef struct weir_conf_s weir_conf_t;
typedef struct weir_conf_cmd_s weir_conf_cmd_t;

typedef struct weir_conf_enum_s {
    const char *name;
    int         value;
} weir_conf_enum_t;

/* A custom setter: parse value (a writable arena copy that stays valid for
 * the arena's life, so pointers into it may be kept) into obj. On a bad
 * value it calls weir_conf_error() and returns WEIR_ERROR. */
typedef int (*weir_conf_set_pt)(weir_conf_t *cf, const weir_conf_cmd_t *cmd,
    void *obj, char *value);

/* A custom dumper: print zero or more "key = value" lines for obj. */
typedef void (*weir_conf_dump_pt)(const weir_conf_cmd_t *cmd,
    const void *obj, FILE *out);

struct weir_conf_cmd_s {
    int                      section;  /* index into the section table */
    const char              *key;
    int                      type;     /* enum weir_conf_type */
    size_t                   offset;   /* of the field in the object */
    int64_t                  min;      /* INT, SIZE, MSEC */
    int64_t                  max;
    unsigned                 flags;    /* WEIR_CONF_MULTI */
    const weir_conf_enum_t  *enums;    /* ENUM: ends with a NULL name */
    weir_conf_set_pt         set;      /* CUSTOM */
    weir_conf_dump_pt        dump;     /* CUSTOM */
    size_t                   offset2;  /* CUSTOM lists: the count field */
};

/* A section type. `create` returns the object the rows' offsets apply to
 * (name is NULL for unnamed types), or NULL after reporting an error. */
typedef struct weir_conf_section_s {
    const char  *name;
    unsigned     named;                /* [type NAME] rather than [type] */
    void      *(*create)(weir_conf_t *cf, const char *name);
} weir_conf_section_t;

/* An error line, fully formatted; the sink copies it. */
typedef void (*weir_conf_error_pt)(void *data, const char *line);

typedef struct weir_conf_inst_s weir_conf_inst_t;

struct weir_conf_s {
    weir_pool_t                *pool;
    const char                 *file;     /* as shown in messages */
    const char                 *prefix;   /* for relative paths, no '/' */
    int                         line;     /* first line of the one parsed */
    int                         phys;     /* physical lines read so far */
    const weir_conf_section_t  *sections;
    size_t                      nsections;
    const weir_conf_cmd_t      *cmds;
    size_t                      ncmds;
    weir_conf_error_pt          error;
    void                       *data;     /* the caller's, for create() */
    size_t                      nerrors;

    /* parser state */
    weir_conf_inst_t           *insts;    /* every section seen */
    weir_conf_inst_t           *cur;      /* NULL: none, or a bad one */
    int                         skip;     /* inside a rejected section */
    const char                 *key;      /* key being set */
    FILE                       *fp;
    char                       *buf;      /* the physical line */
    size_t                      bufcap;
    char                       *lbuf;     /* the logical line */
    size_t                      llen;
    size_t                      lcap;
    char                       *lkey;     /* in lbuf, for the handler */
    char                       *lvalue;
};

/* Prepare cf; nothing is allocated until weir_conf_parse. */
void weir_conf_init(weir_conf_t *cf, weir_pool_t *pool, const char *file,
    const char *prefix, const weir_conf_section_t *sections,
    size_t nsections, const weir_conf_cmd_t *cmds, size_t ncmds,
    weir_conf_error_pt error, void *data);

/* Parse the whole of fp (not closed). WEIR_OK when no error was reported,
 * WEIR_ERROR otherwise (every error went to the sink). */
int weir_conf_parse(weir_conf_t *cf, FILE *fp);

/* Report "file:line: [section name] key: reason" for the key being set;
 * during a section header or outside any key it is "file:line: reason". */
void weir_conf_error(weir_conf_t *cf, const char *fmt, ...)
    WEIR_PRINTF(2, 3);

/* Report "file:line: [section] key: reason" for any place; section and key
 * may be NULL (then they are left out), line 0 leaves out ":line". */
void weir_conf_error_at(weir_conf_t *cf, const char *file, int line,
    const char *section, const char *key, const char *fmt, ...)
    WEIR_PRINTF(6, 7);

/* After parsing: the line where key was set in the section whose object is
 * obj, or 0 when it was not set there. */
int weir_conf_key_line(const weir_conf_t *cf, const void *obj,
    const char *key);

/* The path made absolute: relative to cf->prefix. NULL on ENOMEM. */
char *weir_conf_path(weir_conf_t *cf, const char *value);

/* Room for element n of an arena array that grows by doubling (capacity
 * 4, 8, 16...: implied by n, so models need no capacity field). Returns
 * the array to store back, or NULL after reporting ENOMEM. */
void *weir_conf_grow(weir_conf_t *cf, void *arr, size_t n, size_t size);

/* The next blank-separated word of *pp, NUL-terminated in place and *pp
 * advanced past it; NULL at the end. */
char *weir_conf_next_word(char **pp);

/* The WORDS setter and dumper, for custom rows that check each word
 * first: append the words of value; dump one line per word for MULTI
 * rows, else all words on one line. */
int weir_conf_set_words(weir_conf_t *cf, const weir_conf_cmd_t *cmd,
    void *obj, char *value);
void weir_conf_dump_words(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);

/* Dump a char * field as "key = value", or "; key is not set". */
void weir_conf_dump_str(const weir_conf_cmd_t *cmd, const void *obj,
    FILE *out);

/* Print "key = value" for every row of section type `section` for obj, in
 * table order (unset strings are printed as a comment). */
void weir_conf_dump(const weir_conf_cmd_t *cmds, size_t ncmds, int section,
    const void *obj, FILE *out);

#endif /* WEIR_CORE_CONF_H */
