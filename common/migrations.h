/* The schema migrations, embedded from sql/NNNN_*.sql at build time. */
#ifndef CL_MIGRATIONS_H
#define CL_MIGRATIONS_H

typedef struct cl_migration {
    int version;
    const char *name;
    const char *sql;
} cl_migration_t;

extern const cl_migration_t cl_migrations[];
extern const int cl_migrations_count;

#endif
