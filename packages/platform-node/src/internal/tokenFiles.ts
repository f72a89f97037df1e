/**
 * The parts of the file token store that defend it against other users of the machine: a read that
 * never follows a link and never reads more than it accepts, the private directory check, and the
 * naming and sweeping of temporary files, so a crashed writer's copy of a token does not outlive it.
 *
 * `@effect/platform`'s `FileSystem` has no `lstat`, `O_NOFOLLOW` or `fchmod`, so the read goes to
 * `node:fs` directly.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import { createHash } from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"

// A token file is at most this large; anything larger is corrupt (a token is about 2 KiB).
const maxBytes = 1024 * 1024

/** What a read found at a token path. @internal */
export type FileRead =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Refused"; readonly detail: string }
  | { readonly _tag: "Text"; readonly text: string }

const errnoOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined

// The message of a Node system error names the call, the path and the reason, never file data.
const describe = (error: unknown): string => error instanceof Error ? error.message : String(error)

// The uid of this process, where the platform has uids (not Windows).
const processUid: number | undefined = typeof process.getuid === "function" ? process.getuid() : undefined

// O_NONBLOCK: a FIFO planted at the path must not hang the open.
const readFlags = NodeFs.constants.O_RDONLY | (NodeFs.constants.O_NOFOLLOW ?? 0) |
  (NodeFs.constants.O_NONBLOCK ?? 0)

const opened = (file: string, error: unknown): Effect.Effect<FileRead, string> => {
  const code = errnoOf(error)
  if (code === "ENOENT") return Effect.succeed({ _tag: "Missing" })
  // ELOOP on Linux and macOS, EMLINK on FreeBSD: the last component is a link.
  if (code === "ELOOP" || code === "EMLINK") {
    return Effect.succeed({ _tag: "Refused", detail: `${file} is a symbolic link: it is not followed` })
  }
  return Effect.fail(describe(error))
}

const readOpen = (file: string, handle: NodeFs.promises.FileHandle) =>
  Effect.gen(function*() {
    const info = yield* Effect.tryPromise({ try: () => handle.stat(), catch: describe })
    if (!info.isFile()) return { _tag: "Refused", detail: `${file} is not a regular file` } as const
    if (processUid !== undefined && info.uid !== processUid) {
      return {
        _tag: "Refused",
        detail: `${file} belongs to uid ${info.uid}, not to this process (uid ${processUid}): it is not adopted`
      } as const
    }
    if (info.size > maxBytes) return { _tag: "Refused", detail: `${file} is larger than ${maxBytes} bytes` } as const
    // One byte more than its size tells a file that grew since the stat from one that did not.
    const buffer = Buffer.alloc(info.size + 1)
    let length = 0
    // Bounded: every round reads at least one byte or ends, and the buffer is at most maxBytes + 1.
    while (length < buffer.length) {
      const { bytesRead } = yield* Effect.tryPromise({
        try: () => handle.read(buffer, length, buffer.length - length, length),
        catch: describe
      })
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > info.size) return { _tag: "Refused", detail: `${file} grew while it was read` } as const
    if (processUid !== undefined && (info.mode & 0o077) !== 0) {
      // Not worth failing a read over: the file is ours, and replaced whole on the next write.
      yield* Effect.ignore(Effect.tryPromise(() => handle.chmod(0o600)))
    }
    return { _tag: "Text", text: buffer.subarray(0, length).toString("utf8") } as const
  })

/**
 * Reads a token file without following a symbolic link at its path (`O_NOFOLLOW`), refusing what
 * is not a regular file of this process's user, and reading at most 1 MiB. A file readable
 * by others is made private through its open handle (so no link is followed there either).
 * Fails with a description of the system error.
 *
 * @internal
 */
export const readTokenFile = (file: string): Effect.Effect<FileRead, string> =>
  Effect.acquireUseRelease(
    Effect.either(Effect.tryPromise({ try: () => NodeFs.promises.open(file, readFlags), catch: (error) => error })),
    (handle): Effect.Effect<FileRead, string> =>
      Either.isLeft(handle) ? opened(file, handle.left) : readOpen(file, handle.right),
    (handle) => Either.isLeft(handle) ? Effect.void : Effect.promise(() => handle.right.close().catch(() => undefined))
  )

/** What a directory check decided. @internal */
export type DirectoryCheck =
  | { readonly _tag: "Private" }
  | { readonly _tag: "Tighten" }
  | { readonly _tag: "Unsafe"; readonly detail: string }

/**
 * Decides what to do with an existing token directory from its mode and owner: one writable by
 * group or others is made 0700 when it is this process's, refused when it is someone else's; a
 * shared directory with the sticky bit (such as `/tmp`) is refused even when it is ours, since
 * tightening it would lock every other user out of it.
 *
 * @internal
 */
export const checkDirectory = (
  directory: string,
  info: { readonly mode: number; readonly uid: number | undefined }
): DirectoryCheck => {
  const uid = processUid
  if (uid === undefined || (info.mode & 0o077) === 0) return { _tag: "Private" }
  const writableByOthers = (info.mode & 0o022) !== 0
  if (writableByOthers && (info.mode & 0o1000) !== 0) {
    return {
      _tag: "Unsafe",
      detail: `the token directory ${directory} is a shared directory (writable by others, sticky bit): ` +
        "give the store a private directory of its own"
    }
  }
  if (info.uid === uid) return { _tag: "Tighten" }
  if (!writableByOthers) return { _tag: "Private" }
  return {
    _tag: "Unsafe",
    detail: `the token directory ${directory} is writable by other users and belongs to uid ${
      info.uid ?? "unknown"
    }, not to this process (uid ${uid}): have its owner make it private (chmod 700), or choose another directory`
  }
}

// -----------------------------------------------------------------------------
// temporary files
// -----------------------------------------------------------------------------

const hostTag = createHash("sha256").update(NodeOs.hostname(), "utf8").digest("hex").slice(0, 8)

/**
 * The name of a temporary file for `target` (a file name, no directory): hidden, and naming the
 * writer (a tag of the host and the pid), so that a sweeper can tell a dead writer's leftovers
 * from a live writer's file.
 *
 * @internal
 */
export const temporaryName = (target: string, id: string, kind: "tmp" | "broken" = "tmp"): string =>
  `.${target}.${hostTag}-${process.pid}.${id}.${kind}`

/** Whether a process of this host with `pid` is running (for lock files and temporary files). @internal */
export const isProcessAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return errnoOf(error) === "EPERM"
  }
}

/** A temporary file found in the token directory. @internal */
export interface Temporary {
  readonly name: string
  /** The file it was to become: a token file (`.json`) or a lock file (`.lock`). */
  readonly target: string
  /**
   * This process's (left to the code that made it), a gone process's of this host (a leftover), or
   * one this process cannot judge: another host's, a running process's, an older release's.
   */
  readonly writer: "self" | "dead" | "unknown"
}

const named = /^\.(.+)\.([0-9a-f]{8})-(\d+)\.[0-9a-f]+\.(?:tmp|broken)$/
// A token temporary of a release before the writer was in the name.
const unnamed = /^\.(.+\.json)\.[0-9a-f]{24}\.tmp$/

/** The temporary files among the entries of a directory listing. @internal */
export const temporaries = (entries: ReadonlyArray<string>): ReadonlyArray<Temporary> =>
  entries.flatMap((name): ReadonlyArray<Temporary> => {
    const match = named.exec(name)
    if (match !== null) {
      const [, target, host, pid] = match
      const writer = host !== hostTag ? "unknown" : Number(pid) === process.pid
        ? "self"
        : isProcessAlive(Number(pid))
        ? "unknown"
        : "dead"
      return [{ name, target: target!, writer }]
    }
    const old = unnamed.exec(name)
    return old === null ? [] : [{ name, target: old[1]!, writer: "unknown" }]
  })

// The file name a key is stored under: a readable slug of the key plus a hash of the whole key, so
// every key maps to one safe name (no separators, no leading dot, no case clashes on
// case-insensitive file systems) and different keys never share a file.
export const fileNameFor = (key: string): string => {
  const slug = key.toLowerCase().replace(/[^a-z0-9_-]+/g, "_").slice(0, 40)
  const hash = createHash("sha256").update(key, "utf8").digest("hex").slice(0, 32)
  return `${slug}-${hash}.json`
}
