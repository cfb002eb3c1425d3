//! What a namespace user may run on the shared Redis, from allow-lists.
//!
//! Key patterns (`~prefix*`) guard only commands that name keys; a command that names none
//! (`KEYS`, `SCAN`, `FLUSHALL`, `ACL`, `CONFIG`, `CLIENT KILL`, `FUNCTION FLUSH`, `PUBSUB
//! CHANNELS`, ...) sees or changes the whole server. So the rules a user gets grant
//! key-scoped command categories and then take out every command in them that names no
//! key; the connection commands they need are named one by one. `extra_rules` may only
//! narrow that, or add what is on the lists below: the escape suite asks the real Redis
//! (`ACL DRYRUN`) that no command outside these lists runs without a key check.

use super::naming::REDIS_RESERVED_PREFIX;
use crate::backends::redis::escape_glob;

/// Connection and transaction commands that name no key and reach no other client's data.
/// Client-side caching (`CLIENT TRACKING`, `CACHING`, `GETREDIR`, `TRACKINGINFO`) is not
/// among them: in broadcast mode (`BCAST PREFIX <any>`) Redis sends the tracking client
/// the name of every key written under any prefix, other namespaces' included, and no ACL
/// rule can tell that mode from the default one.
pub const KEYLESS_COMMANDS: &[&str] = &[
    "auth",
    "hello",
    "ping",
    "echo",
    "select",
    "quit",
    "reset",
    "readonly",
    "readwrite",
    "asking",
    "client|setname",
    "client|getname",
    "client|id",
    "client|info",
    "client|reply",
    "command|count",
    "command|docs",
    "command|info",
    "command|list",
    "multi",
    "exec",
    "discard",
    "unwatch",
    "unsubscribe",
    "sunsubscribe",
    "punsubscribe",
    "script|load",
    "script|exists",
];

/// Commands that name their keys as arguments, so `~` patterns guard them: those of
/// Redis 7's command table with key specs and no `@admin` or `@dangerous` category
/// (`SORT`, whose `BY` and `GET` reach other keys, is left out).
pub const KEY_SCOPED_COMMANDS: &[&str] = &[
    "append",
    "bitcount",
    "bitfield",
    "bitfield_ro",
    "bitop",
    "bitpos",
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "copy",
    "decr",
    "decrby",
    "del",
    "dump",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "fcall",
    "fcall_ro",
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
    "get",
    "getbit",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hrandfield",
    "hscan",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
    "incr",
    "incrby",
    "incrbyfloat",
    "lcs",
    "lindex",
    "linsert",
    "llen",
    "lmove",
    "lmpop",
    "lpop",
    "lpos",
    "lpush",
    "lpushx",
    "lrange",
    "lrem",
    "lset",
    "ltrim",
    "memory|usage",
    "mget",
    "move",
    "mset",
    "msetnx",
    "object|encoding",
    "object|freq",
    "object|idletime",
    "object|refcount",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "pfadd",
    "pfcount",
    "pfmerge",
    "psetex",
    "pttl",
    "rename",
    "renamenx",
    "rpop",
    "rpoplpush",
    "rpush",
    "rpushx",
    "sadd",
    "scard",
    "sdiff",
    "sdiffstore",
    "set",
    "setbit",
    "setex",
    "setnx",
    "setrange",
    "sinter",
    "sintercard",
    "sinterstore",
    "sismember",
    "smembers",
    "smismember",
    "smove",
    "spop",
    "spublish",
    "srandmember",
    "srem",
    "sscan",
    "ssubscribe",
    "strlen",
    "substr",
    "sunion",
    "sunionstore",
    "sunsubscribe",
    "touch",
    "ttl",
    "type",
    "unlink",
    "watch",
    "xack",
    "xadd",
    "xautoclaim",
    "xclaim",
    "xdel",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|setid",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|stream",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xreadgroup",
    "xrevrange",
    "xsetid",
    "xtrim",
    "zadd",
    "zcard",
    "zcount",
    "zdiff",
    "zdiffstore",
    "zincrby",
    "zinter",
    "zintercard",
    "zinterstore",
    "zlexcount",
    "zmpop",
    "zmscore",
    "zpopmax",
    "zpopmin",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrangestore",
    "zrank",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
    "zunion",
    "zunionstore",
];

/// Commands that name their channels as arguments, so `&` patterns guard them.
pub const CHANNEL_SCOPED_COMMANDS: &[&str] = &["publish", "spublish", "subscribe", "ssubscribe", "psubscribe"];

/// Categories whose every command names its keys (checked by the escape suite against the
/// real Redis), which `extra_rules` may add whole.
pub const KEY_SCOPED_CATEGORIES: &[&str] = &["string", "hash", "bitmap", "geo", "stream", "blocking"];

/// Commands inside the granted categories that name no key and see the whole server.
const SERVER_WIDE_IN_GRANTED: &[&str] = &["scan", "randomkey", "dbsize", "sort_ro", "lolwut", "function", "pubsub"];

/// The command rules of a namespace, or of a user issued for it, at `permissions`
/// (`readonly` or `readwrite`), each one ACL argument.
pub fn command_rules(permissions: &str) -> Vec<String> {
    let mut rules = vec!["-@all".to_owned(), "+@read".to_owned()];
    if permissions != "readonly" {
        for grant in ["+@write", "+@transaction", "+@blocking", "+@pubsub", "+@scripting"] {
            rules.push(grant.to_owned());
        }
    }
    rules.extend(KEYLESS_COMMANDS.iter().map(|c| format!("+{c}")));
    // Taken out last, so no grant above can put them back.
    rules.extend(["-@dangerous", "-@admin"].map(str::to_owned));
    if permissions != "readonly" {
        // @scripting holds FUNCTION and SCRIPT management, which are server-wide.
        rules.extend(["-script|flush", "-script|kill", "-script|debug"].map(str::to_owned));
    }
    rules.extend(SERVER_WIDE_IN_GRANTED.iter().map(|c| format!("-{c}")));
    rules
}

/// The key and channel patterns of a namespace with `prefix`.
pub fn pattern_rules(prefix: &str) -> Vec<String> {
    vec![format!("~{}*", escape_glob(prefix)), format!("&{}*", escape_glob(prefix))]
}

/// Checks one `extra_rules` entry against the allow-list: taking a command or category
/// away (`-x`, `-@x`); adding a key-scoped command or category; or a key (`~`, `%R~`,
/// `%W~`, `%RW~`) or channel (`&`) pattern under the namespace's prefix.
///
/// # Errors
/// Why the rule is refused, naming it.
pub fn check_extra_rule(rule: &str, prefix: &str) -> Result<(), String> {
    let refuse = |why: String| Err(format!("{rule:?} is not allowed: {why}"));
    if rule.is_empty() || !rule.chars().all(|c| c.is_ascii_graphic()) {
        return refuse("a rule is one word of printable ASCII characters.".into());
    }
    let lower = rule.to_ascii_lowercase();
    if let Some(removed) = lower.strip_prefix('-') {
        // Taking away only narrows, but `-@all` would also drop the connection commands.
        return if removed.is_empty() || removed == "@all" {
            refuse("remove single commands or categories, not everything.".into())
        } else {
            Ok(())
        };
    }
    if let Some(added) = lower.strip_prefix('+') {
        if let Some(category) = added.strip_prefix('@') {
            return if KEY_SCOPED_CATEGORIES.contains(&category) {
                Ok(())
            } else {
                refuse(format!(
                    "only these categories, whose every command names its keys, may be added: {}.",
                    KEY_SCOPED_CATEGORIES.iter().map(|c| format!("+@{c}")).collect::<Vec<_>>().join(", ")
                ))
            };
        }
        let listed = [KEY_SCOPED_COMMANDS, CHANNEL_SCOPED_COMMANDS, KEYLESS_COMMANDS];
        return if listed.iter().any(|list| list.contains(&added)) {
            Ok(())
        } else {
            refuse(
                "only commands that name their keys or channels may be added (see the list in the docs); this one could reach keys, clients or settings of other namespaces.".into(),
            )
        };
    }
    let pattern = if let Some(p) = rule.strip_prefix('~').or_else(|| rule.strip_prefix('&')) {
        p
    } else if let Some(p) = ["%R~", "%W~", "%RW~"].iter().find_map(|s| rule.strip_prefix(s)) {
        p
    } else {
        return refuse(
            "only `-command`, `-@category`, `+command` and `+@category` from the allow-list, and `~`, `%R~`, `%W~`, `%RW~` or `&` patterns under the prefix are allowed.".into(),
        );
    };
    let escaped = escape_glob(prefix);
    if !pattern.starts_with(&escaped) {
        return refuse(format!("key and channel patterns must start with the namespace's prefix {prefix:?}."));
    }
    Ok(())
}

/// Checks a key prefix: 1 to 128 printable characters, no glob characters or quotes, and
/// clear of the provider's reserved prefix.
///
/// # Errors
/// Why the prefix is refused.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 128 {
        return Err(format!("key_prefix must be 1 to 128 characters; {:?} has {}.", prefix, prefix.len()));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '*' | '?' | '[' | ']' | '\\' | '"' | '\''))
    {
        return Err(format!(
            "key_prefix {prefix:?} contains {c:?}: spaces, control characters, quotes and glob characters (`*?[]\\`) would let the pattern reach keys outside the prefix."
        ));
    }
    if prefixes_overlap(prefix, REDIS_RESERVED_PREFIX) {
        return Err(format!(
            "key_prefix {prefix:?} overlaps {REDIS_RESERVED_PREFIX:?}, which the provider keeps for itself."
        ));
    }
    Ok(())
}

/// Whether a key could be under both prefixes: one starts with the other.
pub fn prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How Redis matches a key against a pattern (`stringmatchlen`), for the characters a
    /// pattern built here may hold: `\\` escapes the next one, `*` is any run, `?` any one.
    fn glob(pattern: &[char], key: &[char]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some(('\\', rest)) if !rest.is_empty() => key.first() == Some(&rest[0]) && glob(&rest[1..], &key[1..]),
            Some(('*', rest)) => (0..=key.len()).any(|skip| glob(rest, &key[skip..])),
            Some(('?', rest)) => !key.is_empty() && glob(rest, &key[1..]),
            Some(('[', _)) => panic!("an unescaped [ in a pattern built here"),
            Some((c, rest)) => key.first() == Some(c) && glob(rest, &key[1..]),
        }
    }

    proptest::proptest! {
        /// Whatever prefix `check_prefix` accepts and whatever key an app names, the key
        /// pattern reaches the key exactly when the key starts with the prefix.
        #[test]
        fn a_prefix_pattern_reaches_its_keys_alone(prefix in "[ -~]{1,8}", key in "[ -~]{0,12}") {
            proptest::prop_assume!(check_prefix(&prefix).is_ok());
            let rules = pattern_rules(&prefix);
            let pattern: Vec<char> = rules[0].strip_prefix('~').unwrap().chars().collect();
            let key_chars: Vec<char> = key.chars().collect();
            proptest::prop_assert_eq!(glob(&pattern, &key_chars), key.starts_with(&prefix));
            let with_prefix: Vec<char> = format!("{prefix}{key}").chars().collect();
            proptest::prop_assert!(glob(&pattern, &with_prefix));
        }
    }

    #[test]
    fn escalations_are_refused() {
        for bad in [
            "+acl",
            "+@admin",
            "+@dangerous",
            "+flushall",
            "+config|set",
            "+keys",
            "+scan",
            "+@keyspace",
            "+@all",
            "allkeys",
            "allcommands",
            "+@read",
            "+@write",
            "+@pubsub",
            "+function|flush",
            "+pubsub|channels",
            "+client|kill",
            "+client|list",
            "~*",
            "%RW~*",
            "&*",
            "~other:*",
            ">secret",
            "nopass",
            "reset",
            "on",
            "resetkeys",
            "-@all",
            "~app *",
            "~*app:",
            "(~x)",
            "+@scripting",
            "+sort",
        ] {
            assert!(check_extra_rule(bad, "app:").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn narrowing_and_key_scoped_rules_pass() {
        for good in
            ["-del", "-@write", "+@hash", "+get", "+client|setname", "~app:cache:*", "%R~app:*", "&app:events", "+EVAL"]
        {
            assert!(check_extra_rule(good, "app:").is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn prefixes() {
        assert!(check_prefix("app:").is_ok());
        for bad in ["", "a b", "a*", "a?", "a[b]", "a\\", "a\u{7}", &"x".repeat(129), "__dbaas", "__dbaas_provider:x"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(prefixes_overlap("a:", "a:sub:"));
        assert!(!prefixes_overlap("a:", "b:"));
    }

    #[test]
    fn server_wide_commands_are_taken_out_last() {
        let rules = command_rules("readwrite");
        assert_eq!(rules[0], "-@all");
        let last_grant = rules.iter().rposition(|r| r.starts_with('+')).unwrap();
        let first_removal = rules.iter().position(|r| r == "-@dangerous").unwrap();
        assert!(last_grant < first_removal, "{rules:?}");
        assert!(!command_rules("readonly").iter().any(|r| r == "+@write"));
    }
}
