//! The shared Redis: ACL users, on every node (Redis does not replicate ACLs), and the
//! keys under a prefix.
//!
//! Rules always travel as separate command arguments, never as one string Redis would
//! parse, so a value cannot smuggle in a rule of its own.

use std::collections::BTreeMap;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value as Reply};
use std::sync::Mutex;

use super::deadline::{Deadline, Interrupted};

use crate::secret::Secret;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBackendError {
    /// A node could not be reached or refused the login.
    #[error("cannot connect to Redis at {address}: {source}")]
    Connect {
        /// host:port
        address: String,
        /// Why.
        #[source]
        source: RedisError,
    },
    /// A node refused a command.
    #[error("Redis at {address}: {source}")]
    Command {
        /// host:port
        address: String,
        /// Why.
        #[source]
        source: RedisError,
    },
    /// No answer within the deadline.
    #[error("Redis at {address} timed out: no answer within {}s", .waited.as_secs())]
    TimedOut {
        /// host:port
        address: String,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// Terraform asked the provider to stop.
    #[error("stopped: Terraform asked the provider to stop")]
    Stopped,
}

/// Where and how the admin connects.
#[derive(Clone, Debug)]
pub struct RedisEndpoint {
    /// `host:port` of every node, primary first.
    pub addresses: Vec<String>,
    /// Admin ACL user.
    pub username: String,
    /// Its password.
    pub password: Option<Secret>,
    /// The bound on one command, connect included, and the stop signal.
    pub deadline: Deadline,
    /// Connect with TLS, verifying the server against this CA (PEM), else the system's
    /// roots; `None`: no TLS.
    pub tls: Option<Option<Vec<u8>>>,
}

/// An ACL user as `ACL GETUSER` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclUser {
    /// Flags (`on`, `off`, `nopass`, ...).
    pub flags: Vec<String>,
    /// SHA-256 hex digests of its passwords.
    pub password_hashes: Vec<String>,
    /// Command rules, e.g. `+@all -@dangerous -@admin`.
    pub commands: String,
    /// Key patterns, e.g. `~app:*`.
    pub keys: String,
    /// Channel patterns, e.g. `&app:*`.
    pub channels: String,
}

impl AclUser {
    /// Whether `other` grants the same: Redis renders a user's rules in an order that
    /// differs from process to process (its command table is a hash table), so two nodes
    /// given the same rules report them in different orders.
    pub fn same_as(&self, other: &AclUser) -> bool {
        fn sorted<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
            let mut v: Vec<&str> = items.collect();
            v.sort_unstable();
            v
        }
        sorted(self.flags.iter().map(String::as_str)) == sorted(other.flags.iter().map(String::as_str))
            && sorted(self.password_hashes.iter().map(String::as_str))
                == sorted(other.password_hashes.iter().map(String::as_str))
            && same_rules(&self.commands, &other.commands)
            && same_rules(&self.keys, &other.keys)
            && same_rules(&self.channels, &other.channels)
    }

    /// The prefix of its first key pattern (`~app:*` gives `app:`), if it has one.
    pub fn key_prefix(&self) -> Option<&str> {
        self.keys.split_whitespace().find_map(|k| k.strip_prefix('~')).map(|p| p.trim_end_matches('*'))
    }
}

/// Whether two rule strings as `ACL GETUSER` renders them say the same. Redis puts the
/// categories first in a fixed order, then one token per command in hash-table order, so
/// the same rules may come back in different orders from two processes.
pub fn same_rules(a: &str, b: &str) -> bool {
    fn tokens(s: &str) -> Vec<&str> {
        let mut v: Vec<&str> = s.split_whitespace().collect();
        v.sort_unstable();
        v
    }
    tokens(a) == tokens(b)
}

/// Splits a node address `host:port` (or `[v6]:port`), with port 6379 when there is none.
///
/// ```
/// use dbaas::backends::redis::split_host_port;
/// assert_eq!(split_host_port("redis-0:6380"), ("redis-0", 6380));
/// assert_eq!(split_host_port("[::1]:6381"), ("::1", 6381));
/// assert_eq!(split_host_port("redis-0"), ("redis-0", 6379));
/// ```
pub fn split_host_port(address: &str) -> (&str, u16) {
    const DEFAULT_PORT: u16 = 6379;
    if let Some(rest) = address.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        return (host, tail.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PORT));
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().unwrap_or(DEFAULT_PORT)),
        _ => (address, DEFAULT_PORT),
    }
}

/// The admin's view of every node. One multiplexed connection per node, opened on first use.
pub struct Redis {
    endpoint: RedisEndpoint,
    /// One connection per node, opened on first use and again after it broke.
    nodes: Vec<Mutex<Option<MultiplexedConnection>>>,
}

impl Redis {
    /// A client for `endpoint`; nothing connects yet.
    pub fn new(endpoint: RedisEndpoint) -> Redis {
        let nodes = endpoint.addresses.iter().map(|_| Mutex::new(None)).collect();
        Redis { endpoint, nodes }
    }

    /// `host:port` of every node, primary first.
    pub fn addresses(&self) -> &[String] {
        &self.endpoint.addresses
    }

    async fn node(&self, index: usize) -> Result<MultiplexedConnection, RedisBackendError> {
        if let Some(c) = self.nodes[index].lock().expect("never poisoned").as_ref() {
            return Ok(c.clone());
        }
        let address = &self.endpoint.addresses[index];
        let waited = self.endpoint.deadline.timeout;
        let connect = |source: RedisError| {
            if source.is_timeout() {
                // The client's own bound is the deadline's.
                RedisBackendError::TimedOut { address: address.clone(), waited }
            } else {
                RedisBackendError::Connect { address: address.clone(), source }
            }
        };
        let (host, port) = split_host_port(address);
        let mut settings = redis::RedisConnectionInfo::default().set_username(&self.endpoint.username);
        if let Some(p) = &self.endpoint.password {
            settings = settings.set_password(p.expose());
        }
        let addr = match &self.endpoint.tls {
            None => redis::ConnectionAddr::Tcp(host.to_owned(), port),
            Some(_) => redis::ConnectionAddr::TcpTls { host: host.to_owned(), port, insecure: false, tls_params: None },
        };
        let info = redis::IntoConnectionInfo::into_connection_info(addr).map_err(connect)?.set_redis_settings(settings);
        // redis-rs gives up after 1 s (connect) and 500 ms (a reply) by default, shorter
        // than a slow `ACL SAVE`; the deadline of the whole call bounds both instead.
        let limits = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.endpoint.deadline.timeout))
            .set_response_timeout(Some(self.endpoint.deadline.timeout));
        let client = match &self.endpoint.tls {
            Some(Some(ca)) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates { client_tls: None, root_cert: Some(ca.clone()) },
            ),
            _ => redis::Client::open(info),
        };
        let connection =
            client.map_err(connect)?.get_multiplexed_async_connection_with_config(&limits).await.map_err(connect)?;
        *self.nodes[index].lock().expect("never poisoned") = Some(connection.clone());
        Ok(connection)
    }

    /// Drops node `index`'s connection, so the next command opens a new one (after a
    /// restart, or a reply that never came).
    fn forget(&self, index: usize) {
        *self.nodes[index].lock().expect("never poisoned") = None;
    }

    async fn run(&self, index: usize, command: &redis::Cmd) -> Result<Reply, RedisBackendError> {
        let address = &self.endpoint.addresses[index];
        let attempt = async {
            let mut c = self.node(index).await?;
            command.query_async(&mut c).await.map_err(|source: RedisError| {
                if source.is_io_error() || source.is_connection_dropped() || source.is_timeout() {
                    self.forget(index);
                }
                if source.is_timeout() {
                    return RedisBackendError::TimedOut {
                        address: address.clone(),
                        waited: self.endpoint.deadline.timeout,
                    };
                }
                RedisBackendError::Command { address: address.clone(), source }
            })
        };
        match self.endpoint.deadline.run_for_node(address, attempt).await {
            Ok(result) => result,
            Err(Interrupted::TimedOut(waited)) => {
                // The connection may be stuck mid-reply: the next call opens a new one.
                self.forget(index);
                Err(RedisBackendError::TimedOut { address: address.clone(), waited })
            }
            Err(Interrupted::Stopped) => Err(RedisBackendError::Stopped),
        }
    }

    /// Sets user `name` to exactly `rules` on every node. With a password, the user is
    /// `reset` and given only that password, and the passwords whose SHA-256 digests (hex)
    /// are `kept_hashes`; without one, its passwords stay and only keys, channels and
    /// commands are replaced.
    ///
    /// # Errors
    /// [`RedisBackendError`] for the first node that refuses.
    pub async fn set_user(
        &self,
        name: &str,
        password: Option<&Secret>,
        kept_hashes: &[String],
        rules: &[String],
    ) -> Result<(), RedisBackendError> {
        let mut command = redis::cmd("ACL");
        command.arg("SETUSER").arg(name);
        match password {
            Some(p) => {
                command.arg("reset").arg("on").arg(format!(">{}", p.expose()));
                for hash in kept_hashes {
                    command.arg(format!("#{hash}"));
                }
            }
            None => {
                command.arg("on").arg("resetkeys").arg("resetchannels").arg("nocommands");
            }
        };
        for rule in rules {
            command.arg(rule);
        }
        for i in 0..self.nodes.len() {
            self.run(i, &command).await?;
        }
        Ok(())
    }

    /// User `name` on node `index`, if it exists there.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the node cannot be asked.
    pub async fn get_user(&self, index: usize, name: &str) -> Result<Option<AclUser>, RedisBackendError> {
        let reply = self.run(index, redis::cmd("ACL").arg("GETUSER").arg(name)).await?;
        Ok(parse_getuser(&reply))
    }

    /// Whether user `name` exists on any node.
    ///
    /// # Errors
    /// [`RedisBackendError`] when a node cannot be asked.
    pub async fn user_exists_anywhere(&self, name: &str) -> Result<bool, RedisBackendError> {
        for i in 0..self.nodes.len() {
            if self.get_user(i, name).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Takes the lock `key` on the primary for `ttl` with `token` (`SET NX PX`), unless
    /// another holder has it; true when taken.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary cannot be asked.
    pub async fn try_lock(&self, key: &str, token: &str, ttl: std::time::Duration) -> Result<bool, RedisBackendError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let reply = self.run(0, redis::cmd("SET").arg(key).arg(token).arg("NX").arg("PX").arg(millis)).await?;
        Ok(!matches!(reply, Reply::Nil))
    }

    /// Releases the lock `key` if `token` still holds it (compare and delete in one script,
    /// so a lock that expired and was taken by another holder stays theirs).
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary cannot be asked.
    pub async fn unlock(&self, key: &str, token: &str) -> Result<(), RedisBackendError> {
        const RELEASE: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
        self.run(0, redis::cmd("EVAL").arg(RELEASE).arg(1).arg(key).arg(token)).await.map(drop)
    }

    /// The string at `key` on the primary; `None` when there is none.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary cannot be asked.
    pub async fn get_string(&self, key: &str) -> Result<Option<String>, RedisBackendError> {
        let reply = self.run(0, redis::cmd("GET").arg(key)).await?;
        Ok((!matches!(reply, Reply::Nil)).then(|| text(&reply)))
    }

    /// Sets (`Some`) or deletes (`None`) the string at `key` on the primary if it still is
    /// `expected` (`None`: absent), in one script the server runs atomically; false when it
    /// changed in between.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary refuses.
    pub async fn swap_string(
        &self,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
    ) -> Result<bool, RedisBackendError> {
        // An empty argument stands for "absent": the values swapped here are never empty.
        const SWAP: &str = "local now = redis.call('GET', KEYS[1]) \
            if (now == false and ARGV[1] == '') or now == ARGV[1] then \
              if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end \
              return 1 \
            end \
            return 0";
        let reply = self
            .run(0, redis::cmd("EVAL").arg(SWAP).arg(1).arg(key).arg(expected.unwrap_or("")).arg(value.unwrap_or("")))
            .await?;
        Ok(matches!(reply, Reply::Int(1)))
    }

    /// Every ACL user on the primary, as `ACL LIST` lines.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary cannot be asked.
    pub async fn list_users(&self) -> Result<Vec<String>, RedisBackendError> {
        let reply = self.run(0, redis::cmd("ACL").arg("LIST")).await?;
        Ok(strings(&reply))
    }

    /// The names of every ACL user on the primary.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary cannot be asked.
    pub async fn user_names(&self) -> Result<Vec<String>, RedisBackendError> {
        let reply = self.run(0, redis::cmd("ACL").arg("USERS")).await?;
        Ok(strings(&reply))
    }

    /// Deletes user `name` on every node and disconnects its clients.
    ///
    /// # Errors
    /// [`RedisBackendError`] for the first node that refuses.
    pub async fn delete_user(&self, name: &str) -> Result<(), RedisBackendError> {
        for i in 0..self.nodes.len() {
            self.run(i, redis::cmd("ACL").arg("DELUSER").arg(name)).await?;
            self.run(i, redis::cmd("CLIENT").arg("KILL").arg("USER").arg(name)).await.ok();
        }
        Ok(())
    }

    /// Persists ACLs with `ACL SAVE` on every node that has an ACL file; returns the nodes
    /// that have none, where users vanish on restart.
    ///
    /// # Errors
    /// [`RedisBackendError`] when a node cannot be asked or refuses to save.
    pub async fn save_acls(&self) -> Result<Vec<String>, RedisBackendError> {
        let mut without_file = Vec::new();
        for i in 0..self.nodes.len() {
            let reply = self.run(i, redis::cmd("CONFIG").arg("GET").arg("aclfile")).await?;
            let file = strings(&reply).get(1).cloned().unwrap_or_default();
            if file.is_empty() {
                without_file.push(self.endpoint.addresses[i].clone());
            } else {
                self.run(i, redis::cmd("ACL").arg("SAVE")).await?;
            }
        }
        Ok(without_file)
    }

    /// Deletes every key under `prefix` on the primary, in batches (SCAN MATCH + UNLINK,
    /// never KEYS); returns how many.
    ///
    /// # Errors
    /// [`RedisBackendError`] when the primary refuses.
    pub async fn purge(&self, prefix: &str) -> Result<u64, RedisBackendError> {
        let pattern = format!("{}*", escape_glob(prefix));
        let mut cursor = "0".to_owned();
        let mut deleted = 0;
        loop {
            let reply =
                self.run(0, redis::cmd("SCAN").arg(&cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000)).await?;
            let Reply::Array(parts) = reply else { break };
            let next = parts.first().map(text).unwrap_or_default();
            let keys = parts.get(1).map(strings).unwrap_or_default();
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                for k in &keys {
                    unlink.arg(k);
                }
                if let Reply::Int(n) = self.run(0, &unlink).await? {
                    deleted += u64::try_from(n).unwrap_or(0);
                }
            }
            if next == "0" || next.is_empty() {
                break;
            }
            cursor = next;
        }
        Ok(deleted)
    }
}

/// Escapes Redis glob characters, so a prefix matches only itself.
pub fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::SimpleString(s) => s.clone(),
        Reply::VerbatimString { text, .. } => text.clone(),
        Reply::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

fn strings(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Array(items) | Reply::Set(items) => items.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

/// `ACL GETUSER` answers a flat list (RESP2) or a map (RESP3) of field, value.
fn parse_getuser(reply: &Reply) -> Option<AclUser> {
    let pairs: Vec<(String, &Reply)> = match reply {
        Reply::Nil => return None,
        Reply::Array(items) => items.chunks(2).filter(|c| c.len() == 2).map(|c| (text(&c[0]), &c[1])).collect(),
        Reply::Map(items) => items.iter().map(|(k, v)| (text(k), v)).collect(),
        _ => return None,
    };
    let fields: BTreeMap<String, &Reply> = pairs.into_iter().collect();
    Some(AclUser {
        flags: fields.get("flags").map(|v| strings(v)).unwrap_or_default(),
        password_hashes: fields.get("passwords").map(|v| strings(v)).unwrap_or_default(),
        commands: fields.get("commands").map(|v| text(v)).unwrap_or_default(),
        keys: fields.get("keys").map(|v| text(v)).unwrap_or_default(),
        channels: fields.get("channels").map(|v| text(v)).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_escaped() {
        assert_eq!(escape_glob("app:"), "app:");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
