// What the loopback login shows and runs: the command that opens the system browser, and the small
// self-contained page (no script, text escaped) the browser shows after the callback.
import * as Command from "@effect/platform/Command"
import * as Option from "effect/Option"

export const browserCommand = (
  platform: NodeJS.Platform,
  env: Readonly<Record<string, string | undefined>>,
  url: string
): Option.Option<Command.Command> => {
  switch (platform) {
    case "darwin":
      return Option.some(Command.make("open", url))
    case "win32":
      // `start` treats its first quoted argument as a window title: give it an empty one.
      return Option.some(Command.make("cmd", "/c", "start", "", url.replace(/&/g, "^&")))
    default:
      return env.DISPLAY || env.WAYLAND_DISPLAY ? Option.some(Command.make("xdg-open", url)) : Option.none()
  }
}

export const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(
    /'/g,
    "&#39;"
  )

export const page = (title: string, text: string): string =>
  "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escapeHtml(title) +
  "</title><style>body{font:16px system-ui,sans-serif;margin:4rem auto;max-width:32rem;padding:0 1rem}</style>" +
  "</head><body><h1>" + escapeHtml(title) + "</h1><p>" + escapeHtml(text) + "</p></body></html>"
