/* camledger-admin: schema migrations and station management.
 *
 *   camledger-admin --db CONNINFO migrate
 *   camledger-admin --db CONNINFO station add --code CODE --name NAME
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

static const char usage[] =
    "usage: camledger-admin [--db CONNINFO] COMMAND ...\n"
    "commands:\n"
    "  migrate                               apply missing schema migrations\n"
    "  station add --code CODE --name NAME   add a police station\n"
    "--db takes a libpq connection string or URI; empty or absent means\n"
    "libpq's defaults (PGHOST, PGDATABASE, ...).\n";

static int cmd_migrate(PGconn *conn)
{
    int applied = 0;
    if (cl_db_migrate(conn, &applied) < 0)
        return 1;
    printf("schema at version %d (%d migration%s applied)\n",
           cl_db_schema_required(), applied, applied == 1 ? "" : "s");
    return 0;
}

static int cmd_station_add(PGconn *conn, int argc, char **argv)
{
    static const struct option opts[] = {
        {"code", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *code = NULL, *name = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': code = optarg; break;
        case 'n': name = optarg; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!code || !name || optind != argc) {
        fprintf(stderr, "camledger-admin: station add needs --code CODE and --name NAME\n");
        return 2;
    }
    if (cl_db_schema_check(conn, "camledger-admin") < 0)
        return 1;
    const char *params[2] = {code, name};
    PGresult *res = PQexecParams(conn,
        "INSERT INTO stations (code, name) VALUES ($1, $2) "
        "ON CONFLICT (code) DO NOTHING RETURNING id",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_error("station %s: add failed: %s", code, cl_db_error(conn, res));
        PQclear(res);
        return 1;
    }
    int added = PQntuples(res) == 1;
    PQclear(res);
    if (!added) {
        cl_error("station %s: add failed: a station with that code exists", code);
        return 1;
    }
    printf("station %s added\n", code);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conninfo = "";
    int c;
    cl_log_init("camledger-admin", CL_LOG_INFO);
    /* '+' stops at the first command word; its options are parsed later. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': conninfo = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    int rest_argc = argc - optind;
    char **rest_argv = argv + optind;
    int is_migrate = strcmp(cmd, "migrate") == 0 && rest_argc == 1;
    int is_station_add = strcmp(cmd, "station") == 0 && rest_argc >= 2 &&
                         strcmp(rest_argv[1], "add") == 0;
    if (!is_migrate && !is_station_add) {
        fprintf(stderr, "camledger-admin: unknown command '%s'\n", cmd);
        fputs(usage, stderr);
        return 2;
    }
    PGconn *conn = cl_db_connect(conninfo, "camledger-admin");
    if (!conn)
        return 1;
    int rc = is_migrate ? cmd_migrate(conn) : cmd_station_add(conn, rest_argc - 1, rest_argv + 1);
    PQfinish(conn);
    return rc;
}
