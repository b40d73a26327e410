/* docs/openapi.yaml as the tests read it: a line scan of its strict layout.
 * Under "paths:", each path key at 2 spaces ("  /v1/cameras/{code}:"), each
 * lower-case method at 4 ("    get:"), and per operation, at 6 spaces,
 * "x-roles: [...]", "x-route-name: NAME", "parameters:" (items
 * "        - name: N" then "          in: query") and "responses:" (status
 * keys at 8, the success schema's first "$ref"); under "components:" /
 * "  schemas:", schema names at 4 with "required: [...]" on one line at 6
 * (or at 10 inside an "allOf" item, whose "- $ref" items are followed).
 * Anything else in the layout fails the test with the line. */
#ifndef CL_OPENAPI_DOC_H
#define CL_OPENAPI_DOC_H

#include <stddef.h>

#define MAX_OPS 64
#define MAX_QUERY 16
#define MAX_SCHEMAS 128

typedef struct cl_doc_op {
    char method[8];            /* upper case */
    char path[256];            /* as documented: /v1/cameras/{code} */
    char tmpl[256];            /* as in cl_routes: /v1/cameras/{} */
    int line;
    int roles;                 /* CL_ROLE_* bits from x-roles */
    int n_roles_lines;
    char route_name[64];
    char *query[MAX_QUERY];    /* documented query parameters */
    size_t n_query;
    char success[8];           /* "200", "201" */
    char success_schema[64];   /* the success answer's schema, or "" */
} cl_doc_op_t;

typedef struct cl_doc_schema {
    char name[64];
    char required[1024];       /* comma-separated, no spaces */
    char all_of[4][64];        /* schemas named by allOf items */
    size_t n_all_of;
} cl_doc_schema_t;

/* The operations and schemas, in the document's order, once loaded. */
extern cl_doc_op_t cl_doc_ops[MAX_OPS];
extern size_t cl_doc_n_ops;
extern cl_doc_schema_t cl_doc_schemas[MAX_SCHEMAS];
extern size_t cl_doc_n_schemas;

/* Reads $CL_SOURCE_ROOT/docs/openapi.yaml once; after a failed read every
 * later call fails at once rather than working on half a document. */
void cl_doc_load(void);
/* Frees what cl_doc_load kept. */
void cl_doc_free(void);

/* The operation documented for method (upper case) and route template, or
 * NULL. */
const cl_doc_op_t *cl_doc_find(const char *method, const char *tmpl);
/* The schema of that name under components/schemas, or NULL. */
const cl_doc_schema_t *cl_doc_schema_find(const char *name);
/* Does the concrete path match the template ({} = one non-empty segment)? */
int cl_doc_template_matches(const char *tmpl, const char *path);

#endif
