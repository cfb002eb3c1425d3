//! PostgreSQL 15 and older, where `CREATEROLE` reaches every non-superuser role: the
//! issuer's functions, through which a database's management login issues, drops and
//! rotates only its own database's logins.

use sqlx::Executor;
use sqlx::postgres::PgConnection;

use super::execute_all;

/// The first server version whose `CREATEROLE` reaches only roles the login holds ADMIN on:
/// from it on, the server itself keeps a management login to its own database's roles.
pub const SCOPED_CREATEROLE_SINCE: u32 = 160_000;
/// PostgreSQL 15 and older: the NOLOGIN role that owns the functions through which a
/// management login (which has no `CREATEROLE` there) issues, drops and rotates logins. Its
/// `-` keeps it apart from every name the provider derives (`<database>_<suffix>`).
pub const ISSUER_ROLE: &str = "dbaas-issuer";
/// The schema, in each database, holding those functions; owned by the provider's admin.
pub const ISSUER_SCHEMA: &str = "dbaas_vault";
/// The comment on a static role's login, after which comes the database: only logins
/// carrying it may have their password set through [`ISSUER_SCHEMA`].
pub const STATIC_LOGIN_MARK: &str = "static login of database ";

/// The issuer's functions. Each checks that its caller is this database's management login
/// (`<database>_vault`) and touches only this database's group roles and the logins marked
/// as issued or static for it, whatever arguments it is given. Constant text: the database
/// comes from `current_database()`, never from the provider.
const ISSUER_FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION dbaas_vault.check_caller() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF session_user::text <> current_database()::text || '_vault' THEN
    RAISE EXCEPTION 'only % may call this', current_database()::text || '_vault' USING ERRCODE = 'insufficient_privilege';
  END IF;
END $fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.create_user(username text, password text, valid_until text, level text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE grp text := current_database()::text || '_' || level;
BEGIN
  PERFORM dbaas_vault.check_caller();
  IF level NOT IN ('owner', 'readwrite', 'readonly') THEN
    RAISE EXCEPTION 'level % is not owner, readwrite or readonly', level USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- Only names Vault's template makes: never one the provider makes for a database
  -- (`<db>_owner`, `<db>_vault`, …), which a squatter could otherwise take first.
  IF left(username, 2) <> 'v-' THEN
    RAISE EXCEPTION 'role % is not a name Vault issues (v-…)', username USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L VALID UNTIL %L IN ROLE %I', username, password, valid_until, grp);
  EXECUTE format('COMMENT ON ROLE %I IS %L', username, 'issued by Vault for database ' || current_database()::text);
  -- A security-definer function may not set `role`, even as a default: an owner-level
  -- user sets it on itself next, through its management login (see create_user's callers).
  IF level = 'owner' THEN
    EXECUTE format('GRANT %I TO %I', username, session_user);
  END IF;
END $fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.issued_here(username text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  -- Issued through create_user; or issued before, by Vault's own CREATE ROLE: a v- login
  -- whose every membership is one of this database's group roles.
  SELECT shobj_description(r.oid, 'pg_authid') IS NOT DISTINCT FROM 'issued by Vault for database ' || current_database()::text
      OR (username LIKE 'v-%' AND r.rolcanlogin AND NOT r.rolcreaterole AND NOT r.rolcreatedb AND NOT r.rolsuper
          AND EXISTS (SELECT FROM pg_auth_members WHERE member = r.oid)
          AND NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                          WHERE m.member = r.oid
                            AND g.rolname <> ALL (ARRAY[current_database()::text || '_owner',
                                                        current_database()::text || '_readwrite',
                                                        current_database()::text || '_readonly'])))
  FROM pg_roles r WHERE r.rolname = username
$fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.drop_user(username text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  heir text := current_database()::text || '_owner';
BEGIN
  PERFORM dbaas_vault.check_caller();
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = username) THEN
    RETURN;
  END IF;
  IF NOT dbaas_vault.issued_here(username) THEN
    RAISE EXCEPTION 'role % was not issued for database %', username, current_database() USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- REASSIGN and DROP OWNED need the privileges of both roles, for this call only.
  EXECUTE format('GRANT %I, %I TO %I', username, heir, current_user);
  EXECUTE format('REASSIGN OWNED BY %I TO %I', username, heir);
  EXECUTE format('DROP OWNED BY %I', username);
  EXECUTE format('REVOKE %I FROM %I', heir, current_user);
  EXECUTE format('DROP ROLE %I', username);
END $fn$;

-- Vault's default renewal is `ALTER ROLE … VALID UNTIL`, which the management login may
-- not run on 15 (no CREATEROLE): every renewal goes through here instead.
CREATE OR REPLACE FUNCTION dbaas_vault.renew_user(username text, valid_until text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM dbaas_vault.check_caller();
  IF dbaas_vault.issued_here(username) IS NOT TRUE THEN
    RAISE EXCEPTION 'role % was not issued for database %', username, current_database() USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('ALTER ROLE %I VALID UNTIL %L', username, valid_until);
END $fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.set_password(username text, password text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM dbaas_vault.check_caller();
  IF shobj_description((SELECT oid FROM pg_roles WHERE rolname = username), 'pg_authid')
     IS DISTINCT FROM 'static login of database ' || current_database()::text THEN
    RAISE EXCEPTION 'role % is not a static login of database %', username, current_database() USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('ALTER ROLE %I WITH PASSWORD %L', username, password);
END $fn$;
"#;

/// PostgreSQL 15 and older: the schema [`ISSUER_SCHEMA`] in the connection's database,
/// owned by the admin, with the issuer's functions owned by [`ISSUER_ROLE`]. Anyone may call
/// them (each refuses every caller but the database's management login), so they need no
/// grant to a login that may not exist yet. `Some(owner)` when the schema is someone else's,
/// and nothing was done.
pub(super) async fn install_issuer(tx: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    let create: String = sqlx::query_scalar("SELECT format('CREATE SCHEMA IF NOT EXISTS %I', $1::text)")
        .bind(ISSUER_SCHEMA)
        .fetch_one(&mut *tx)
        .await?;
    tx.execute(create.as_str()).await?;
    let (owner, admin): (String, String) = sqlx::query_as(
        "SELECT pg_get_userbyid(nspowner)::text, current_user::text FROM pg_namespace WHERE nspname = $1",
    )
    .bind(ISSUER_SCHEMA)
    .fetch_one(&mut *tx)
    .await?;
    if owner != admin {
        return Ok(Some(owner));
    }
    tx.execute(ISSUER_FUNCTIONS).await?;
    let statements: Vec<String> = sqlx::query_scalar(
        "SELECT format('GRANT USAGE ON SCHEMA %I TO PUBLIC', $1::text) \
         UNION ALL SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, $2::text) \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
    )
    .bind(ISSUER_SCHEMA)
    .bind(ISSUER_ROLE)
    .fetch_all(&mut *tx)
    .await?;
    execute_all(tx, &statements).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuers_functions_check_the_mark_static_logins_get() {
        // set_password compares a login's comment with this text in SQL; ensure_login and
        // mark_static_login write it from the constant.
        assert!(ISSUER_FUNCTIONS.contains(&format!("'{STATIC_LOGIN_MARK}' || current_database()")));
        assert!(ISSUER_FUNCTIONS.contains(&format!("CREATE OR REPLACE FUNCTION {ISSUER_SCHEMA}.set_password(")));
        assert!(ISSUER_FUNCTIONS.contains(&format!("CREATE OR REPLACE FUNCTION {ISSUER_SCHEMA}.renew_user(")));
    }
}
