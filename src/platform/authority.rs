//! Who may do what to which object, and what stops them: the one authority model. The
//! security guide's table is rendered from [`RULES`] (`make docs`), and the escape matrix
//! (`tests/acceptance/escapes.rs`) walks every rule a server enforces with credentials got
//! as apps and teams get them, on each engine and version it names, and fails on a rule
//! with no probe. A rule changes here, or nowhere.
//!
//! Nothing a tenant can write is proof of ownership: every object below that decides
//! ownership (claims, owner marks, who holds a role) is written only by a holder the
//! table refuses to every tenant, or is read from what the server alone records.

/// Who holds the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// A dynamic credential from `<mount>/creds/<role>` at `owner` level; an ephemeral
    /// `dbaas_credentials` is issued by the same role at the same path.
    AppOwner,
    /// The same at `readwrite`.
    AppReadwrite,
    /// The same at `readonly`.
    AppReadonly,
    /// A static role's login (`<mount>/static-creds/<role>`), at `readwrite`.
    StaticLogin,
    /// A database's management login `<db>_vault`, as a team's Vault token drives it: a
    /// role written on the team's own connection runs any statement as that login.
    ManagementLogin,
}

/// What is acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    /// The tables of the holder's own database (or keys under its own Redis prefix).
    OwnData,
    /// Another tenant's database, or keys under another namespace's prefix.
    OtherTenantData,
    /// A database whose name the holder's own name matches as a MySQL grant pattern.
    WildcardNeighbour,
    /// The server's own databases: PostgreSQL's `postgres` and `template1`, MySQL's `mysql`.
    ServerDatabases,
    /// Another tenant's group roles, logins and management login.
    OtherTenantRoles,
    /// PostgreSQL's predefined roles (`pg_read_server_files`, `pg_execute_server_program`).
    PredefinedRoles,
    /// A new role or user on the server.
    NewRole,
    /// A role of the name another database's create will use (`<future>_owner`).
    FutureDatabaseRole,
    /// A database's claim (PostgreSQL: its claim role's comment; MySQL: the provider's
    /// registry; Redis: the claim key under `__dbaas_provider:`).
    Claims,
    /// Files and programs on the server.
    ServerFiles,
    /// Commands that see or change the whole Redis server (`KEYS`, `FLUSHALL`, `ACL`, `CONFIG`).
    ServerWideCommands,
    /// The database the provider takes its locks in (PostgreSQL's advisory locks belong to
    /// a database, and any session there may take any key): `dbaas-provider`, or the
    /// configured maintenance database once the platform closed it to PUBLIC.
    ProviderLocks,
}

/// What is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    /// Read rows or keys.
    Read,
    /// Write rows or keys.
    Write,
    /// Create tables (or roles, for [`Object::NewRole`]).
    Create,
    /// Connect to it.
    Connect,
    /// Act as it (`SET ROLE`), or be granted it.
    Assume,
    /// Change it (a password, a comment, a claim).
    Alter,
    /// Run it.
    Run,
}

/// Where a rule is enforced, and so where it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Every PostgreSQL the platform runs (15, 17, 18).
    Postgres,
    /// PostgreSQL 15 only.
    Postgres15,
    /// PostgreSQL 16 and later.
    Postgres16Plus,
    /// MySQL 8 and MariaDB.
    Mysql,
    /// Redis.
    Redis,
}

impl Engine {
    /// Whether the rule holds on PostgreSQL `major`, MySQL (`None`, `"mysql"`) or Redis.
    pub fn covers(self, server: Server) -> bool {
        match (self, server) {
            (Engine::Postgres, Server::Postgres(_)) => true,
            (Engine::Postgres15, Server::Postgres(major)) => major < 16,
            (Engine::Postgres16Plus, Server::Postgres(major)) => major >= 16,
            (Engine::Mysql, Server::Mysql) | (Engine::Redis, Server::Redis) => true,
            _ => false,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Postgres15 => "PostgreSQL 15",
            Engine::Postgres16Plus => "PostgreSQL 16+",
            Engine::Mysql => "MySQL",
            Engine::Redis => "Redis",
        }
    }
}

/// A server a rule is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL, by major version.
    Postgres(u32),
    /// MySQL or MariaDB.
    Mysql,
    /// Redis.
    Redis,
}

/// What enforces a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcer {
    /// The server refuses it, whatever the client sends.
    Server,
    /// Only this provider's checks: someone using the credential directly is not stopped.
    Provider,
}

/// One cell of the model: whether `holder` may `verb` `object` on `engine`, and what
/// enforces that.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Who.
    pub holder: Holder,
    /// On what.
    pub object: Object,
    /// Does what.
    pub verb: Verb,
    /// Where the rule holds.
    pub engine: Engine,
    /// Whether it may.
    pub allowed: bool,
    /// What enforces it.
    pub by: Enforcer,
    /// Why, or how, in a few words.
    pub why: &'static str,
}

use Enforcer::{Provider as P, Server as S};
use Engine::{Mysql as My, Postgres as Pg, Postgres15 as Pg15, Postgres16Plus as Pg16, Redis as Rd};
use Holder::{AppOwner as Own, AppReadonly as Ro, AppReadwrite as Rw, ManagementLogin as Mgmt, StaticLogin as Static};
use Object::*;
use Verb::*;

const fn rule(
    holder: Holder,
    object: Object,
    verb: Verb,
    engine: Engine,
    allowed: bool,
    by: Enforcer,
    why: &'static str,
) -> Rule {
    Rule { holder, object, verb, engine, allowed, by, why }
}

/// The authority model.
pub const RULES: &[Rule] = &[
    // Apps in their own database, at their level.
    rule(Own, OwnData, Read, Pg, true, S, "member of `<db>_owner`"),
    rule(Own, OwnData, Write, Pg, true, S, "member of `<db>_owner`"),
    rule(Own, OwnData, Create, Pg, true, S, "member of `<db>_owner`, which owns what it creates"),
    rule(Rw, OwnData, Read, Pg, true, S, "member of `<db>_readwrite`"),
    rule(Rw, OwnData, Write, Pg, true, S, "member of `<db>_readwrite`"),
    rule(Rw, OwnData, Create, Pg, false, S, "no CREATE on the schemas"),
    rule(Ro, OwnData, Read, Pg, true, S, "member of `<db>_readonly`"),
    rule(Ro, OwnData, Write, Pg, false, S, "SELECT only"),
    rule(Static, OwnData, Write, Pg, true, S, "member of `<db>_readwrite`"),
    rule(Own, OwnData, Read, My, true, S, "ALL on `<db>`.* (escaped)"),
    rule(Own, OwnData, Create, My, true, S, "ALL on `<db>`.* (escaped)"),
    rule(Rw, OwnData, Write, My, true, S, "SELECT, INSERT, UPDATE, DELETE on `<db>`.*"),
    rule(Rw, OwnData, Create, My, false, S, "no CREATE"),
    rule(Ro, OwnData, Write, My, false, S, "SELECT only"),
    rule(Static, OwnData, Write, My, true, S, "readwrite grants on `<db>`.*"),
    rule(Rw, OwnData, Write, Rd, true, S, "key patterns `~<prefix>*`"),
    rule(Ro, OwnData, Write, Rd, false, S, "read commands only"),
    // Apps beyond their database.
    rule(Own, OtherTenantData, Connect, Pg, false, S, "no CONNECT: PUBLIC lost it"),
    rule(Rw, OtherTenantData, Connect, Pg, false, S, "no CONNECT: PUBLIC lost it"),
    rule(Static, OtherTenantData, Connect, Pg, false, S, "no CONNECT: PUBLIC lost it"),
    rule(Own, OtherTenantData, Read, My, false, S, "grants name `<db>` alone"),
    rule(Static, OtherTenantData, Read, My, false, S, "grants name `<db>` alone"),
    rule(Own, WildcardNeighbour, Read, My, false, S, "`_` and `%` escaped in every grant"),
    rule(Rw, WildcardNeighbour, Write, My, false, S, "`_` and `%` escaped in every grant"),
    rule(Static, WildcardNeighbour, Read, My, false, S, "`_` and `%` escaped in every grant"),
    rule(Rw, OtherTenantData, Read, Rd, false, S, "key patterns name its prefix alone"),
    rule(
        Own,
        ServerDatabases,
        Connect,
        Pg,
        true,
        S,
        "PUBLIC's CONNECT on `postgres` and `template1`, as the platform set it",
    ),
    rule(
        Own,
        ServerDatabases,
        Create,
        Pg,
        false,
        S,
        "no CREATE on their schema `public` (clusters initialised by 15+)",
    ),
    rule(Own, ServerDatabases, Read, My, false, S, "no grant on `mysql`"),
    rule(Own, OtherTenantRoles, Assume, Pg, false, S, "not a member; no ADMIN to grant it"),
    rule(Own, OtherTenantRoles, Alter, Pg, false, S, "no CREATEROLE"),
    rule(Own, OtherTenantRoles, Alter, My, false, S, "no CREATE USER, no UPDATE on `mysql`"),
    rule(Own, PredefinedRoles, Assume, Pg, false, S, "not a member"),
    rule(Own, NewRole, Create, Pg, false, S, "no CREATEROLE"),
    rule(Own, NewRole, Create, My, false, S, "no CREATE USER"),
    rule(Own, ServerFiles, Read, Pg, false, S, "not in `pg_read_server_files`"),
    rule(Own, ServerFiles, Read, My, false, S, "no FILE privilege"),
    rule(Own, Claims, Alter, Pg, false, S, "a claim role's comment takes ADMIN on it or CREATEROLE"),
    rule(Own, Claims, Alter, My, false, S, "no grant on `dbaas-provider`"),
    rule(Rw, Claims, Alter, Rd, false, S, "`__dbaas_provider:` is no namespace's prefix"),
    rule(Rw, ServerWideCommands, Run, Rd, false, S, "only key-scoped commands"),
    rule(Own, ProviderLocks, Connect, Pg, false, S, "PUBLIC may not connect where the provider locks"),
    rule(Static, ProviderLocks, Connect, Pg, false, S, "PUBLIC may not connect where the provider locks"),
    // A team's Vault token, through its own database's management login.
    rule(Mgmt, OwnData, Read, Pg, true, S, "holds the owner group (REASSIGN OWNED needs it)"),
    rule(Mgmt, OtherTenantData, Connect, Pg, false, S, "no CONNECT: PUBLIC lost it"),
    rule(Mgmt, ProviderLocks, Connect, Pg, false, S, "PUBLIC may not connect where the provider locks"),
    rule(Mgmt, OtherTenantRoles, Assume, Pg, false, S, "16+: ADMIN only on its own roles; 15: no CREATEROLE"),
    rule(Mgmt, PredefinedRoles, Assume, Pg, false, S, "16+: no ADMIN on them; 15: no CREATEROLE"),
    rule(Mgmt, NewRole, Create, Pg15, false, S, "no CREATEROLE; the issuer makes `v-` users only"),
    rule(Mgmt, NewRole, Create, Pg16, true, S, "CREATEROLE, scoped by the server to what it makes"),
    rule(
        Mgmt,
        FutureDatabaseRole,
        Assume,
        Pg16,
        false,
        P,
        "a create refuses a role anyone but an admin holds, or that no admin ever granted anything (what a login that made it and was dropped leaves)",
    ),
    rule(
        Mgmt,
        Claims,
        Create,
        Pg16,
        false,
        P,
        "it may make `dbaas-claim:<db>`, which counts for nothing: no admin granted it anything",
    ),
    rule(Mgmt, Claims, Alter, Pg, false, S, "no ADMIN on a claim role"),
    rule(
        Mgmt,
        OtherTenantData,
        Read,
        My,
        false,
        S,
        "privileges on its own database alone, with no grant option; the issuer grants on that database alone",
    ),
    rule(
        Mgmt,
        ServerDatabases,
        Read,
        My,
        false,
        S,
        "no grant on `mysql`: account names and password hashes stay hidden",
    ),
    rule(
        Mgmt,
        OtherTenantRoles,
        Alter,
        My,
        false,
        S,
        "no CREATE USER; the issuer's procedures find the database from the caller, and drop or set passwords only of logins on its record for that database",
    ),
    rule(Mgmt, NewRole, Create, My, false, S, "no CREATE USER; it issues through `dbaas-provider`.`issue_user` alone"),
    rule(
        Mgmt,
        FutureDatabaseRole,
        Create,
        My,
        false,
        S,
        "the issuer makes only names Vault's templates make, and no database may be named like their start",
    ),
    rule(
        Mgmt,
        Claims,
        Alter,
        My,
        false,
        S,
        "EXECUTE on the issuer's four procedures is all it holds in `dbaas-provider`; its tables (claims, issuers, logins) are the admin's",
    ),
    rule(Mgmt, ServerWideCommands, Run, Rd, true, P, "the namespace's Vault user holds `+acl`"),
];

/// The rules that hold on `server`.
pub fn rules_on(server: Server) -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(move |r| r.engine.covers(server))
}

impl Holder {
    fn label(self) -> &'static str {
        match self {
            Holder::AppOwner => "app, `owner`",
            Holder::AppReadwrite => "app, `readwrite`",
            Holder::AppReadonly => "app, `readonly`",
            Holder::StaticLogin => "static login",
            Holder::ManagementLogin => "team token, through `<db>_vault`",
        }
    }
}

impl Object {
    fn label(self) -> &'static str {
        match self {
            OwnData => "its own data",
            OtherTenantData => "another tenant's data",
            WildcardNeighbour => "a database its name matches as a grant pattern",
            ServerDatabases => "the server's own databases",
            OtherTenantRoles => "another tenant's roles",
            PredefinedRoles => "predefined roles",
            NewRole => "a new role",
            FutureDatabaseRole => "a future database's role",
            Claims => "claims",
            ServerFiles => "server files",
            ServerWideCommands => "server-wide commands",
            ProviderLocks => "the provider's locks",
        }
    }
}

impl Verb {
    fn label(self) -> &'static str {
        match self {
            Read => "read",
            Write => "write",
            Create => "create",
            Connect => "connect",
            Assume => "assume",
            Alter => "alter",
            Run => "run",
        }
    }
}

/// The security guide's table: one row per rule.
pub fn render_markdown() -> String {
    let mut out =
        String::from("| holder | object | verb | where | may | enforced by | how |\n|---|---|---|---|---|---|---|\n");
    for r in RULES {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.holder.label(),
            r.object.label(),
            r.verb.label(),
            r.engine.label(),
            if r.allowed { "yes" } else { "**no**" },
            match r.by {
                Enforcer::Server => "server",
                Enforcer::Provider => "provider only",
            },
            r.why
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cell_is_said_once() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                let same = a.holder == b.holder && a.object == b.object && a.verb == b.verb;
                let overlap = [Server::Postgres(15), Server::Postgres(17), Server::Mysql, Server::Redis]
                    .into_iter()
                    .any(|s| a.engine.covers(s) && b.engine.covers(s));
                assert!(!(same && overlap), "said twice: {a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn the_table_has_a_row_per_rule() {
        assert_eq!(render_markdown().lines().count(), RULES.len() + 2);
    }
}
