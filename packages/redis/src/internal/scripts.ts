/**
 * The Lua scripts of the Redis token store. Each touches one key, so each runs atomically on the
 * server that owns the key (and would on a Cluster node). None returns or publishes anything but
 * versions, owners and the stored value to the caller; nothing secret is published.
 *
 * @internal
 */
import type { Redis } from "ioredis"

// The stored value is the core's stored-token JSON; its version is read here to compare. A value
// that is not such JSON (or a key of another type) has no version: it counts as absent, like a
// value that `get` cannot read.
const readVersion = `
local function stored_version(key)
  local current = redis.pcall("GET", key)
  if type(current) ~= "string" then return false, false end
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == "table" and decoded.format == "effect-oauth/token" and decoded.v == 1
    and type(decoded.token) == "table" and type(decoded.token.version) == "number" then
    return decoded.token.version, current
  end
  return false, current
end
`

/**
 * Compare-and-set. KEYS[1] the token key. ARGV: mode, expected version, new version, value,
 * channel, message. Modes:
 * - `absent`: write if nothing readable is stored;
 * - `version`: write if the stored version equals ARGV[2];
 * - `newer`: write if nothing readable, or a lower version, is stored (the write-back after Redis
 *   lost data or failed over: a late writer never rolls a slot back).
 * Returns `{1}` when written (and publishes the message), else `{0, current}` with the stored
 * value (`false` when there is none).
 */
const compareAndSet = `${readVersion}
local version, current = stored_version(KEYS[1])
local mode = ARGV[1]
local next_version = tonumber(ARGV[3])
local ok
if mode == "absent" then
  ok = version == false
elseif mode == "version" then
  ok = version ~= false and version == tonumber(ARGV[2])
else
  ok = version == false or version < next_version
end
if not ok then return { 0, current } end
redis.call("SET", KEYS[1], ARGV[4])
redis.call("PUBLISH", ARGV[5], ARGV[6])
return { 1 }
`

/**
 * Compare-and-delete, with the expectations of {@link compareAndSet} (`absent`, `version`).
 * KEYS[1] the token key; ARGV: mode, expected version. Returns `{1}` when the expectation held
 * (whatever unreadable value was there is gone), else `{0, current}`.
 */
const compareAndDelete = `${readVersion}
local version, current = stored_version(KEYS[1])
local ok
if ARGV[1] == "absent" then
  ok = version == false
else
  ok = version ~= false and version == tonumber(ARGV[2])
end
if not ok then return { 0, current } end
redis.call("DEL", KEYS[1])
return { 1 }
`

/** Extends a lease if ARGV[1] still owns it. KEYS[1] the lease key, ARGV[2] the lifetime in ms. */
const renewLease = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`

/** Deletes a lease if ARGV[1] still owns it, and tells the waiters. ARGV[2] channel, ARGV[3] message. */
const releaseLease = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("DEL", KEYS[1])
  redis.call("PUBLISH", ARGV[2], ARGV[3])
  return 1
end
return 0
`

/** The write modes of {@link compareAndSet}. */
export type SetMode = "absent" | "version" | "newer"

/** A client with the scripts defined as commands (sent by SHA, loaded again after a restart). */
export interface ScriptedRedis extends Redis {
  effectOAuthCompareAndSet(
    key: string,
    mode: SetMode,
    expected: string,
    version: string,
    value: string,
    channel: string,
    message: string
  ): Promise<[1] | [0, string | null]>
  effectOAuthCompareAndDelete(
    key: string,
    mode: "absent" | "version",
    expected: string
  ): Promise<[1] | [0, string | null]>
  effectOAuthRenewLease(key: string, owner: string, millis: string): Promise<number>
  effectOAuthReleaseLease(key: string, owner: string, channel: string, message: string): Promise<number>
}

/** Defines the scripts on `redis`. */
export const define = (redis: Redis): ScriptedRedis => {
  redis.defineCommand("effectOAuthCompareAndSet", { numberOfKeys: 1, lua: compareAndSet })
  redis.defineCommand("effectOAuthCompareAndDelete", { numberOfKeys: 1, lua: compareAndDelete })
  redis.defineCommand("effectOAuthRenewLease", { numberOfKeys: 1, lua: renewLease })
  redis.defineCommand("effectOAuthReleaseLease", { numberOfKeys: 1, lua: releaseLease })
  return redis as ScriptedRedis
}
