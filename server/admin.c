/* camledger-admin: schema migrations, stations, users and tokens.
 *
 *   camledger-admin --db CONNINFO migrate
 *   camledger-admin --db CONNINFO station add --code CODE --name NAME
 *   camledger-admin --db CONNINFO user add --name NAME --role ROLE [--station CODE]
 *   camledger-admin --db CONNINFO user list
 *   camledger-admin --db CONNINFO token add --user NAME
 *   camledger-admin --db CONNINFO token revoke (--user NAME | --token TOKEN)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include <libavutil/mem.h>
#include <libavutil/sha.h>

#include "db.h"
#include "log.h"

static const char usage[] =
    "usage: camledger-admin [--db CONNINFO] COMMAND ...\n"
    "commands:\n"
    "  migrate                               apply missing schema migrations\n"
    "  station add --code CODE --name NAME   add a police station\n"
    "  user add --name NAME --role ROLE [--station CODE]\n"
    "                                        add a user (investigator, admin, auditor)\n"
    "                                        and print a new token on the last line\n"
    "  user list                             list users and their active tokens\n"
    "  token add --user NAME                 issue another token for a user\n"
    "  token revoke --user NAME | --token T  revoke a user's tokens, or one token\n"
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

/* Tokens: 256 bits from the kernel's random source, as 64 hex digits; only
 * their SHA-256 is stored. */
static int new_token(char out[65])
{
    uint8_t raw[32];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cl_error("token: getrandom failed: %s", strerror(errno));
            return -errno;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static void sha256_hex(const char *text, char out[65])
{
    uint8_t digest[32];
    struct AVSHA *sha = av_sha_alloc();
    av_sha_init(sha, 256);
    av_sha_update(sha, (const uint8_t *)text, strlen(text));
    av_sha_final(sha, digest);
    av_free(sha);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static int issue_token(PGconn *conn, const char *user_name)
{
    char token[65], hash[65];
    if (new_token(token) < 0)
        return 1;
    sha256_hex(token, hash);
    const char *params[2] = {user_name, hash};
    PGresult *res = PQexecParams(conn,
        "INSERT INTO tokens (user_id, sha256) SELECT id, decode($2, 'hex') FROM users WHERE name = $1",
        2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "1") == 0;
    if (!ok)
        cl_error("user %s: issuing a token failed: %s", user_name,
                 PQresultStatus(res) == PGRES_COMMAND_OK ? "no such user" : cl_db_error(conn, res));
    PQclear(res);
    if (!ok)
        return 1;
    printf("token for %s (shown once; only its SHA-256 is kept):\n%s\n", user_name, token);
    return 0;
}

static int cmd_user_add(PGconn *conn, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"station", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *role = NULL, *station = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'r': role = optarg; break;
        case 's': station = optarg; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!name || !role || optind != argc) {
        fprintf(stderr, "camledger-admin: user add needs --name NAME and --role ROLE\n");
        return 2;
    }
    if (strcmp(role, "investigator") != 0 && strcmp(role, "admin") != 0 &&
        strcmp(role, "auditor") != 0) {
        fprintf(stderr, "camledger-admin: --role is investigator, admin or auditor, not '%s'\n", role);
        return 2;
    }
    if (cl_db_schema_check(conn, "camledger-admin") < 0)
        return 1;
    PQclear(PQexec(conn, "BEGIN"));
    const char *params[3] = {name, role, station};
    PGresult *res = PQexecParams(conn,
        "INSERT INTO users (name, role, station_id) "
        "SELECT $1, $2, s.id FROM (SELECT NULL) x LEFT JOIN stations s ON s.code = $3 "
        "WHERE $3::text IS NULL OR s.id IS NOT NULL RETURNING id",
        3, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (!ok) {
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            cl_error("user %s: add failed: no station %s", name, station);
        else if (cl_db_result_is(res, "23505"))
            cl_error("user %s: add failed: a user with that name exists", name);
        else
            cl_error("user %s: add failed: %s", name, cl_db_error(conn, res));
    }
    PQclear(res);
    if (!ok || issue_token(conn, name) != 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return 1;
    }
    res = PQexec(conn, "COMMIT");
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        cl_error("user %s: add failed: %s", name, cl_db_error(conn, res));
    PQclear(res);
    return ok ? 0 : 1;
}

static int cmd_user_list(PGconn *conn)
{
    if (cl_db_schema_check(conn, "camledger-admin") < 0)
        return 1;
    PGresult *res = PQexec(conn,
        "SELECT u.name, u.role, coalesce(s.code, '-'), "
        "(SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL) "
        "FROM users u LEFT JOIN stations s ON s.id = u.station_id ORDER BY u.name");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cl_error("user list failed: %s", cl_db_error(conn, res));
        PQclear(res);
        return 1;
    }
    printf("%-32s %-13s %-16s %s\n", "NAME", "ROLE", "STATION", "TOKENS");
    for (int i = 0; i < PQntuples(res); i++)
        printf("%-32s %-13s %-16s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    PQclear(res);
    return 0;
}

static int cmd_token(PGconn *conn, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *token = NULL;
    int c;
    int revoke = strcmp(argv[0], "revoke") == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': user = optarg; break;
        case 't': token = optarg; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || (!revoke && (!user || token)) || (revoke && !user == !token)) {
        fprintf(stderr, "camledger-admin: token add --user NAME; token revoke --user NAME | --token TOKEN\n");
        return 2;
    }
    if (cl_db_schema_check(conn, "camledger-admin") < 0)
        return 1;
    if (!revoke)
        return issue_token(conn, user);
    char hash[65];
    if (token)
        sha256_hex(token, hash);
    const char *params[1] = {token ? hash : user};
    PGresult *res = PQexecParams(conn, token
        ? "UPDATE tokens SET revoked_at = now() WHERE sha256 = decode($1, 'hex') AND revoked_at IS NULL"
        : "UPDATE tokens SET revoked_at = now() WHERE revoked_at IS NULL AND "
          "user_id = (SELECT id FROM users WHERE name = $1)",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        cl_error("token revoke failed: %s", cl_db_error(conn, res));
        PQclear(res);
        return 1;
    }
    int n = atoi(PQcmdTuples(res));
    PQclear(res);
    if (n == 0) {
        cl_error("token revoke: no active token matched");
        return 1;
    }
    printf("%d token%s revoked\n", n, n == 1 ? "" : "s");
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
    const char *sub = rest_argc >= 2 ? rest_argv[1] : "";
    int kind = 0;
    if (strcmp(cmd, "migrate") == 0 && rest_argc == 1)
        kind = 1;
    else if (strcmp(cmd, "station") == 0 && strcmp(sub, "add") == 0)
        kind = 2;
    else if (strcmp(cmd, "user") == 0 && strcmp(sub, "add") == 0)
        kind = 3;
    else if (strcmp(cmd, "user") == 0 && strcmp(sub, "list") == 0 && rest_argc == 2)
        kind = 4;
    else if (strcmp(cmd, "token") == 0 && (strcmp(sub, "add") == 0 || strcmp(sub, "revoke") == 0))
        kind = 5;
    if (!kind) {
        fprintf(stderr, "camledger-admin: unknown command '%s'\n", cmd);
        fputs(usage, stderr);
        return 2;
    }
    PGconn *conn = cl_db_connect(conninfo, "camledger-admin");
    if (!conn)
        return 1;
    int rc;
    switch (kind) {
    case 1: rc = cmd_migrate(conn); break;
    case 2: rc = cmd_station_add(conn, rest_argc - 1, rest_argv + 1); break;
    case 3: rc = cmd_user_add(conn, rest_argc - 1, rest_argv + 1); break;
    case 4: rc = cmd_user_list(conn); break;
    default: rc = cmd_token(conn, rest_argc - 1, rest_argv + 1); break;
    }
    PQfinish(conn);
    return rc;
}
