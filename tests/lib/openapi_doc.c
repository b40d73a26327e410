/* The line scan of docs/openapi.yaml: see openapi_doc.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openapi_doc.h"
#include "server.h"
#include "testlib.h"

cl_doc_op_t cl_doc_ops[MAX_OPS];
size_t cl_doc_n_ops;
cl_doc_schema_t cl_doc_schemas[MAX_SCHEMAS];
size_t cl_doc_n_schemas;
static char *doc_text;        /* the file, cut into lines by the scan */

static const char *const http_methods[] = {"get", "put", "post", "delete", "options", "head",
                                           "patch", "trace"};

static int indent_of(const char *line)
{
    int n = 0;
    while (line[n] == ' ')
        n++;
    if (line[n] == '\t')
        fail_msg("docs/openapi.yaml: a tab in the indentation of '%s'", line);
    return n;
}

/* "key: value" at the line's indentation: copies the key, returns the value
 * (after ": "), "" for "key:", NULL when the line is not a plain key. */
static const char *key_of(const char *text, char *key, size_t keylen)
{
    const char *colon = strchr(text, ':');
    if (!colon || (colon[1] != '\0' && colon[1] != ' '))
        return NULL;
    size_t n = (size_t)(colon - text);
    if (n == 0 || n >= keylen)
        return NULL;
    memcpy(key, text, n);
    key[n] = '\0';
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    return v;
}

static int role_bit(const char *name)
{
    if (strcmp(name, "investigator") == 0)
        return CL_ROLE_INVESTIGATOR;
    if (strcmp(name, "admin") == 0)
        return CL_ROLE_ADMIN;
    if (strcmp(name, "auditor") == 0)
        return CL_ROLE_AUDITOR;
    return 0;
}

/* "[investigator, admin]" to a bit set; fails the test on anything else. */
static int parse_roles(const char *v, int line)
{
    size_t len = strlen(v);
    if (len < 2 || v[0] != '[' || v[len - 1] != ']')
        fail_msg("docs/openapi.yaml:%d: x-roles is not a one-line [list]: %s", line, v);
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)(len - 2), v + 1);
    int roles = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = '\0';
        int bit = role_bit(tok);
        if (!bit)
            fail_msg("docs/openapi.yaml:%d: x-roles names an unknown role '%s'", line, tok);
        if (roles & bit)
            fail_msg("docs/openapi.yaml:%d: x-roles names '%s' twice", line, tok);
        roles |= bit;
    }
    return roles;
}

/* "[a, b, c]" to "a,b,c". */
static void flatten_list(const char *v, char *out, size_t outlen, int line)
{
    size_t len = strlen(v);
    if (len < 2 || v[0] != '[' || v[len - 1] != ']')
        fail_msg("docs/openapi.yaml:%d: required is not a one-line [list]: %s", line, v);
    size_t o = 0;
    for (size_t i = 1; i + 1 < len && o + 1 < outlen; i++)
        if (v[i] != ' ')
            out[o++] = v[i];
    out[o] = '\0';
}

/* "/v1/cameras/{code}/footage" to "/v1/cameras/{}/footage". */
static void to_template(const char *path, char *out, size_t outlen, int line)
{
    size_t o = 0;
    for (const char *p = path; *p; p++) {
        if (o + 3 >= outlen)
            fail_msg("docs/openapi.yaml:%d: path too long", line);
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close || close == p + 1)
                fail_msg("docs/openapi.yaml:%d: bad path parameter in %s", line, path);
            for (const char *q = p + 1; q < close; q++)
                if (!isalnum((unsigned char)*q) && *q != '_')
                    fail_msg("docs/openapi.yaml:%d: bad path parameter in %s", line, path);
            out[o++] = '{';
            out[o++] = '}';
            p = close;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static const char *schema_ref(const char *v)
{
    static const char prefix[] = "'#/components/schemas/";
    if (strncmp(v, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    return v + sizeof(prefix) - 1;
}

static void copy_ref(char *dst, size_t dstlen, const char *ref)
{
    size_t n = strcspn(ref, "'");
    snprintf(dst, dstlen, "%.*s", (int)n, ref);
}

typedef struct scan_state {
    char path[256], tmpl[256];  /* the path key being read */
    cl_doc_op_t *op;               /* the operation being read, or NULL */
    int in_params, in_success;
    char pending_param[64];
} scan_state_t;

static void scan_paths_line(const char *line, int lineno, int ind, scan_state_t *st)
{
    const char *text = line + ind;
    char key[128];
    const char *v = key_of(text, key, sizeof(key));
    if (ind == 2) {
        size_t len = strlen(text);
        if (text[0] != '/' || len < 2 || text[len - 1] != ':')
            fail_msg("docs/openapi.yaml:%d: under paths, 2 spaces hold path keys only: %s",
                     lineno, text);
        snprintf(st->path, sizeof(st->path), "%.*s", (int)(len - 1), text);
        to_template(st->path, st->tmpl, sizeof(st->tmpl), lineno);
        st->op = NULL;
        return;
    }
    if (ind == 4) {
        st->op = NULL;
        st->in_params = st->in_success = 0;
        if (!v)
            fail_msg("docs/openapi.yaml:%d: not a key: %s", lineno, text);
        for (size_t m = 0; m < sizeof(http_methods) / sizeof(http_methods[0]); m++) {
            if (strcasecmp(key, http_methods[m]) != 0)
                continue;
            if (strcmp(key, http_methods[m]) != 0)
                fail_msg("docs/openapi.yaml:%d: method keys are lower case: %s", lineno, key);
            if (!st->path[0])
                fail_msg("docs/openapi.yaml:%d: a method before any path", lineno);
            if (cl_doc_n_ops == MAX_OPS)
                fail_msg("docs/openapi.yaml: more than %d operations", MAX_OPS);
            cl_doc_op_t *o = &cl_doc_ops[cl_doc_n_ops++];
            for (size_t i = 0; key[i]; i++)
                o->method[i] = (char)toupper((unsigned char)key[i]);
            memcpy(o->path, st->path, sizeof(o->path));
            memcpy(o->tmpl, st->tmpl, sizeof(o->tmpl));
            o->line = lineno;
            st->op = o;
        }
        return;
    }
    cl_doc_op_t *o = st->op;
    if (!o)
        return;
    if (ind == 6 && v) {
        st->in_params = strcmp(key, "parameters") == 0;
        st->in_success = 0;
        if (strcmp(key, "x-roles") == 0) {
            o->roles = parse_roles(v, lineno);
            o->n_roles_lines++;
        } else if (strcmp(key, "x-route-name") == 0) {
            snprintf(o->route_name, sizeof(o->route_name), "%s", v);
        }
        return;
    }
    if (st->in_params && ind == 8 && strncmp(text, "- name: ", 8) == 0) {
        snprintf(st->pending_param, sizeof(st->pending_param), "%s", text + 8);
        return;
    }
    if (st->in_params && ind == 10 && v && strcmp(key, "in") == 0) {
        if (strcmp(v, "query") == 0 && st->pending_param[0]) {
            if (o->n_query == MAX_QUERY)
                fail_msg("docs/openapi.yaml:%d: too many query parameters", lineno);
            o->query[o->n_query++] = strdup(st->pending_param);
        }
        st->pending_param[0] = '\0';
        return;
    }
    if (ind == 8) {
        st->in_success = v && (strcmp(key, "'200'") == 0 || strcmp(key, "'201'") == 0);
        if (st->in_success)
            snprintf(o->success, sizeof(o->success), "%.3s", key + 1);
        return;
    }
    if (st->in_success && v && strcmp(key, "$ref") == 0 && !o->success_schema[0]) {
        const char *ref = schema_ref(v);
        if (ref)
            copy_ref(o->success_schema, sizeof(o->success_schema), ref);
    }
}

static void scan_schemas_line(const char *line, int lineno, int ind, cl_doc_schema_t **s, int *in_all_of)
{
    const char *text = line + ind;
    char key[128];
    const char *v = key_of(text, key, sizeof(key));
    if (ind == 4 && v) {
        if (cl_doc_n_schemas == MAX_SCHEMAS)
            fail_msg("docs/openapi.yaml: more than %d schemas", MAX_SCHEMAS);
        *s = &cl_doc_schemas[cl_doc_n_schemas++];
        snprintf((*s)->name, sizeof((*s)->name), "%.63s", key);
        *in_all_of = 0;
        return;
    }
    if (!*s)
        return;
    if (ind == 6 && v) {
        *in_all_of = strcmp(key, "allOf") == 0;
        if (strcmp(key, "required") == 0)
            flatten_list(v, (*s)->required, sizeof((*s)->required), lineno);
        return;
    }
    if (*in_all_of && ind == 8 && strncmp(text, "- $ref: ", 8) == 0) {
        const char *ref = schema_ref(text + 8);
        if (ref && (*s)->n_all_of < 4)
            copy_ref((*s)->all_of[(*s)->n_all_of++], sizeof((*s)->all_of[0]), ref);
        return;
    }
    if (*in_all_of && ind == 10 && v && strcmp(key, "required") == 0) {
        char more[1024];
        flatten_list(v, more, sizeof(more), lineno);
        size_t len = strlen((*s)->required);
        snprintf((*s)->required + len, sizeof((*s)->required) - len, "%s%s", len ? "," : "", more);
    }
}

/* Reads the document once; after a failed read every test fails at once
 * rather than working on half a document. */
void cl_doc_load(void)
{
    static int state;   /* 0 unread, 1 read, -1 failed */
    if (state == 1)
        return;
    if (state == -1)
        fail_msg("docs/openapi.yaml could not be read: see the first failure");
    state = -1;
    const char *root = getenv("CL_SOURCE_ROOT");
    if (!root || !*root)
        fail_msg("CL_SOURCE_ROOT is not set: run the tests through meson test");
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/openapi.yaml", root);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s: cannot open", path);
    size_t cap = 1 << 16, len = 0, n;
    doc_text = malloc(cap);
    while (doc_text && (n = fread(doc_text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 4096)
            doc_text = realloc(doc_text, cap *= 2);
    }
    fclose(f);
    if (!doc_text)
        fail_msg("out of memory");
    doc_text[len] = '\0';
    enum { OUTSIDE, PATHS, COMPONENTS, SCHEMAS } where = OUTSIDE;
    int lineno = 0, in_all_of = 0, saw_paths = 0;
    scan_state_t st = {0};
    cl_doc_schema_t *schema = NULL;
    /* strsep keeps empty lines, so line numbers stay right. */
    for (char *rest = doc_text, *line; (line = strsep(&rest, "\n")) != NULL;) {
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        int ind = indent_of(line);
        if (line[ind] == '\0' || line[ind] == '#')
            continue;
        if (ind == 0) {
            where = strcmp(line, "paths:") == 0 ? PATHS
                  : strcmp(line, "components:") == 0 ? COMPONENTS : OUTSIDE;
            saw_paths |= where == PATHS;
            continue;
        }
        if (where == COMPONENTS || where == SCHEMAS) {
            if (ind == 2) {
                where = strcmp(line, "  schemas:") == 0 ? SCHEMAS : COMPONENTS;
                schema = NULL;
                continue;
            }
            if (where == SCHEMAS)
                scan_schemas_line(line, lineno, ind, &schema, &in_all_of);
            continue;
        }
        if (where == PATHS)
            scan_paths_line(line, lineno, ind, &st);
    }
    if (!saw_paths || cl_doc_n_ops == 0)
        fail_msg("%s: no operations under paths:", path);
    state = 1;
}

const cl_doc_op_t *cl_doc_find(const char *method, const char *tmpl)
{
    for (size_t i = 0; i < cl_doc_n_ops; i++)
        if (strcmp(cl_doc_ops[i].method, method) == 0 && strcmp(cl_doc_ops[i].tmpl, tmpl) == 0)
            return &cl_doc_ops[i];
    return NULL;
}

const cl_doc_schema_t *cl_doc_schema_find(const char *name)
{
    for (size_t i = 0; i < cl_doc_n_schemas; i++)
        if (strcmp(cl_doc_schemas[i].name, name) == 0)
            return &cl_doc_schemas[i];
    return NULL;
}

/* Does the concrete path match the template ({} = one non-empty segment)? */
int cl_doc_template_matches(const char *tmpl, const char *path)
{
    while (*tmpl && *path) {
        if (tmpl[0] == '{' && tmpl[1] == '}') {
            size_t seg = strcspn(path, "/");
            if (seg == 0)
                return 0;
            path += seg;
            tmpl += 2;
        } else if (*tmpl++ != *path++) {
            return 0;
        }
    }
    return *tmpl == '\0' && *path == '\0';
}

void cl_doc_free(void)
{
    for (size_t i = 0; i < cl_doc_n_ops; i++)
        for (size_t q = 0; q < cl_doc_ops[i].n_query; q++)
            free(cl_doc_ops[i].query[q]);
    free(doc_text);
}
